"""What the job says about itself: ops.stream_batches rows and its batch log lines."""

from __future__ import annotations

import logging
import re
import threading

import numpy as np
from deltalake import DeltaTable

from bench.latency import percentiles, table_dir
from retail_lakehouse import tables

_PHASES = re.compile(r"phases_ms=(\S+)")
_FIELD = re.compile(r"(\w+)=(\S+)")


def stream_batches(lake_root: str) -> list[dict]:
    path = table_dir(lake_root, tables.STREAM_BATCHES)
    if not (path / "_delta_log").is_dir():
        return []
    return DeltaTable(str(path)).to_pyarrow_table().to_pylist()


def job_latency(batches: list[dict], since_ms: float, until_ms: float) -> dict:
    """The job's own produce-to-gold figures over the batches committed in the window:
    pooled from each batch's latency sample, and the median of per-batch p95s."""
    chosen = [
        b
        for b in batches
        if b.get("committed_at") is not None
        and since_ms <= b["committed_at"].timestamp() * 1000 < until_ms
        and b.get("family") == "sales"
    ]
    pooled = [v for b in chosen for v in (b.get("latency_sample_ms") or [])]
    p95s = [b["latency_p95_ms"] for b in chosen if b.get("latency_p95_ms") is not None]
    return {
        "pooled_sample": percentiles(pooled),
        "median_batch_p95_ms": round(float(np.median(p95s)), 1) if p95s else None,
        "batches": len(chosen),
    }


class BatchLogCapture(logging.Handler):
    """Keeps the fields of every `event=batch_committed` log line (phases_ms and more),
    whatever module logs it."""

    def __init__(self) -> None:
        super().__init__(level=logging.INFO)
        self.batches: list[dict] = []
        self._lock = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if "event=batch_committed" not in message:
            return
        fields: dict = dict(_FIELD.findall(message))
        fields["logged_at"] = record.created
        phases = _PHASES.search(message)
        fields["phases_ms"] = _parse_phases(phases.group(1)) if phases else {}
        with self._lock:
            self.batches.append(fields)

    def __enter__(self) -> BatchLogCapture:
        root = logging.getLogger()
        root.addHandler(self)
        if root.level > logging.INFO or root.level == logging.NOTSET:
            root.setLevel(logging.INFO)
        return self

    def __exit__(self, *exc: object) -> None:
        logging.getLogger().removeHandler(self)


def _parse_phases(text: str) -> dict[str, int]:
    out = {}
    for part in text.split(","):
        name, _, value = part.partition(":")
        if value.lstrip("-").isdigit():
            out[name] = int(value)
    return out


def phase_totals(batches: list[dict]) -> dict[str, int]:
    totals: dict[str, int] = {}
    for batch in batches:
        for name, ms in batch.get("phases_ms", {}).items():
            totals[name] = totals.get(name, 0) + ms
    return dict(sorted(totals.items(), key=lambda kv: -kv[1]))


def durations_ms(batches: list[dict]) -> list[int]:
    return [int(b["duration_ms"]) for b in batches if str(b.get("duration_ms", "")).isdigit()]


def files_per_table(lake_root: str) -> dict[str, int]:
    from bench.delta_log import data_files

    out = {}
    for spec in tables.ALL_TABLES:
        count = data_files(table_dir(lake_root, spec))
        if count:
            out[spec.qualified_name] = count
    return out
