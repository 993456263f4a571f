"""Per-batch counts and produce-to-gold latency, written to ops.stream_batches: one row
per family a micro-batch read."""

from __future__ import annotations

import math
import random
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from dataclasses import fields as fields_of
from datetime import datetime
from typing import Any

import numpy as np
import pyarrow as pa

LATENCY_SAMPLE_SIZE = 5_000
_INT32_MAX = 2**31 - 1

_TIMESTAMP = pa.timestamp("us", tz="UTC")
STREAM_BATCHES_SCHEMA = pa.schema(
    [
        pa.field("query_name", pa.string(), False),
        pa.field("family", pa.string(), False),
        pa.field("batch_id", pa.int64(), False),
        pa.field("started_at", _TIMESTAMP, False),
        pa.field("committed_at", _TIMESTAMP, False),
        pa.field("duration_ms", pa.int64(), False),
        pa.field("input_rows", pa.int64(), False),
        pa.field("quarantined_rows", pa.int64(), False),
        pa.field("valid_events", pa.int64(), False),
        pa.field("duplicate_events", pa.int64(), False),
        pa.field("late_events", pa.int64(), False),
        pa.field("stored_events", pa.int64(), False),
        pa.field("watermark", _TIMESTAMP, True),
        pa.field("max_event_time", _TIMESTAMP, True),
        pa.field("latency_p50_ms", pa.float64(), True),
        pa.field("latency_p95_ms", pa.float64(), True),
        pa.field("latency_max_ms", pa.float64(), True),
        pa.field("latency_sample_ms", pa.list_(pa.int32()), False),
        pa.field("quarantine_reasons", pa.map_(pa.string(), pa.int64()), False),
        # where the family's topic was read up to, {"topic": {"partition": next offset}}:
        # where a new checkpoint resumes when the old one is lost
        pa.field("end_offsets", pa.string(), True),
    ]
)


@dataclass
class BatchMetrics:
    query_name: str
    family: str
    batch_id: int
    started_at: datetime
    committed_at: datetime | None = None
    input_rows: int = 0
    quarantined_rows: int = 0
    valid_events: int = 0
    duplicate_events: int = 0
    late_events: int = 0
    stored_events: int = 0
    watermark: datetime | None = None
    max_event_time: datetime | None = None
    latencies_ms: list[float] = field(default_factory=list)
    quarantine_reasons: dict[str, int] = field(default_factory=dict)
    end_offsets: str | None = None
    phase_ms: dict[str, int] = field(default_factory=dict)

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        """Time one step of the batch, for the log line that says where time went."""
        started = time.monotonic()
        try:
            yield
        finally:
            self.phase_ms[name] = int((time.monotonic() - started) * 1000)

    @property
    def duration_ms(self) -> int:
        end = self.committed_at or self.started_at
        return int((end - self.started_at).total_seconds() * 1000)

    def as_log_fields(self) -> dict[str, object]:
        p50, p95, worst = latency_summary(self.latencies_ms)
        skipped = ("latencies_ms", "started_at", "committed_at", "quarantine_reasons",
                   "phase_ms", "end_offsets")  # fmt: skip
        fields = {f.name: getattr(self, f.name) for f in fields_of(self) if f.name not in skipped}
        fields["phases_ms"] = ",".join(f"{k}:{v}" for k, v in self.phase_ms.items())
        fields.update(duration_ms=self.duration_ms, latency_p50_ms=p50, latency_p95_ms=p95)
        fields["latency_max_ms"] = worst
        return fields

    def row(self) -> dict[str, Any]:
        """The batch's ops.stream_batches row for this family."""
        p50, p95, worst = latency_summary(self.latencies_ms)
        sample = self.latencies_ms
        if len(sample) > LATENCY_SAMPLE_SIZE:
            sample = random.Random(self.batch_id).sample(sample, LATENCY_SAMPLE_SIZE)
        return {
            "query_name": self.query_name,
            "family": self.family,
            "batch_id": self.batch_id,
            "started_at": self.started_at,
            "committed_at": self.committed_at or self.started_at,
            "duration_ms": self.duration_ms,
            "input_rows": self.input_rows,
            "quarantined_rows": self.quarantined_rows,
            "valid_events": self.valid_events,
            "duplicate_events": self.duplicate_events,
            "late_events": self.late_events,
            "stored_events": self.stored_events,
            "watermark": self.watermark,
            "max_event_time": self.max_event_time,
            "latency_p50_ms": p50,
            "latency_p95_ms": p95,
            "latency_max_ms": worst,
            # an event produced weeks ago (a replayed backlog) is capped, not an error
            "latency_sample_ms": [min(int(v), _INT32_MAX) for v in sample],
            "quarantine_reasons": list(self.quarantine_reasons.items()),
            "end_offsets": self.end_offsets,
        }


def ops_rows(batch: Sequence[BatchMetrics]) -> pa.Table:
    """A micro-batch's ops.stream_batches rows, one per family it read, built in the
    driver: no Spark job, and one commit for the whole batch."""
    return pa.Table.from_pylist([m.row() for m in batch], schema=STREAM_BATCHES_SCHEMA)


def percentile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile; None for no values."""
    if len(values) == 0:
        return None
    ordered = np.sort(np.asarray(values, dtype=float))
    rank = max(1, min(len(ordered), math.ceil(q / 100 * len(ordered))))
    return float(ordered[rank - 1])


def latency_summary(values: Sequence[float]) -> tuple[float | None, float | None, float | None]:
    worst = float(np.max(values)) if len(values) else None
    return percentile(values, 50), percentile(values, 95), worst


def split_warmup(batches: list[dict[str, Any]]) -> tuple[list[dict], list[dict]]:
    """ops.stream_batches rows split into each query's first batch with input (the
    warm-up) and every batch after it (the steady state)."""
    first: dict[str, int] = {}
    for r in sorted(batches, key=lambda r: r["batch_id"]):
        if r["input_rows"]:
            first.setdefault(r["query_name"], r["batch_id"])
    warmup = [r for r in batches if r["batch_id"] == first.get(r["query_name"])]
    steady = [r for r in batches if r["batch_id"] > first.get(r["query_name"], r["batch_id"])]
    return warmup, steady
