"""What the job says about itself: ops.stream_batches rows, its `batch_committed` log
lines (where a batch's time went) and Spark's `query_progress` lines (a trigger's)."""

from __future__ import annotations

import logging
import re
import statistics
import threading

import numpy as np
from deltalake import DeltaTable

from bench.latency import percentiles, table_dir
from retail_lakehouse import tables

_PHASES = re.compile(r"phases_ms=(\S+)")
_FIELD = re.compile(r"(\w+)=(\S+)")
# Spark's split of a trigger (StreamingQueryProgress.durationMs), as the progress
# listener logs it: addBatch is foreachBatch, the rest Spark's fixed cost
TRIGGER_PARTS = (
    "latestOffset_ms",
    "queryPlanning_ms",
    "getBatch_ms",
    "walCommit_ms",
    "addBatch_ms",
    "commitOffsets_ms",
    "triggerExecution_ms",
)


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
    """Keeps the fields of every `event=batch_committed` line (one per family of a
    batch) and every `event=query_progress` line, whatever module logs them."""

    def __init__(self) -> None:
        super().__init__(level=logging.INFO)
        self.batches: list[dict] = []
        self.triggers: list[dict] = []
        self._lock = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if "event=batch_committed" in message:
            fields: dict = dict(_FIELD.findall(message))
            fields["logged_at"] = record.created
            phases = _PHASES.search(message)
            fields["phases_ms"] = _parse_phases(phases.group(1)) if phases else {}
            with self._lock:
                self.batches.append(fields)
        elif "event=query_progress" in message:
            with self._lock:
                self.triggers.append(dict(_FIELD.findall(message)))

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


def per_batch(lines: list[dict]) -> list[dict]:
    """One entry per micro-batch from its per-family lines: the batch's phases (the
    same on every family's line), its duration and its records summed."""
    batches: dict[str, dict] = {}
    for line in lines:
        batch = batches.setdefault(
            line.get("batch_id", "?"),
            {
                "batch_id": line.get("batch_id"),
                "logged_at": line["logged_at"],
                "phases_ms": line.get("phases_ms", {}),
                "duration_ms": _int(line.get("duration_ms")),
                "input_rows": 0,
            },
        )
        batch["input_rows"] += _int(line.get("input_rows")) or 0
    return list(batches.values())


def phase_totals(batches: list[dict]) -> dict[str, int]:
    totals: dict[str, int] = {}
    for batch in batches:
        for name, ms in batch.get("phases_ms", {}).items():
            totals[name] = totals.get(name, 0) + ms
    return dict(sorted(totals.items(), key=lambda kv: -kv[1]))


def phase_medians(batches: list[dict]) -> dict[str, float]:
    """The median batch's ms per phase (batches as `per_batch` gives them)."""
    names = {name for b in batches for name in b.get("phases_ms", {})}
    return {
        name: round(statistics.median(b["phases_ms"].get(name, 0) for b in batches), 1)
        for name in sorted(names)
    }


def trigger_medians(triggers: list[dict]) -> dict[str, float]:
    """The median trigger's ms per part of Spark's split; `spark_overhead_ms` is the
    trigger outside foreachBatch (offsets, planning, offset and commit logs)."""
    out = {}
    for part in TRIGGER_PARTS:
        values = [v for t in triggers if (v := _int(t.get(part))) is not None]
        if values:
            out[part] = round(statistics.median(values), 1)
    overhead = [
        total - added
        for t in triggers
        if (total := _int(t.get("triggerExecution_ms"))) is not None
        and (added := _int(t.get("addBatch_ms"))) is not None
    ]
    if overhead:
        out["spark_overhead_ms"] = round(statistics.median(overhead), 1)
    return out


def durations_ms(batches: list[dict]) -> list[int]:
    return [d for b in batches if (d := _int(b.get("duration_ms"))) is not None]


def files_per_table(lake_root: str) -> dict[str, int]:
    from bench.delta_log import data_files

    out = {}
    for spec in tables.ALL_TABLES:
        count = data_files(table_dir(lake_root, spec))
        if count:
            out[spec.qualified_name] = count
    return out


def _int(value: object) -> int | None:
    if isinstance(value, int):
        return value
    text = str(value) if value is not None else ""
    return int(text) if text.lstrip("-").isdigit() else None
