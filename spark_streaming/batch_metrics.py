"""Per-batch counts and produce-to-gold latency, written to ops.stream_batches."""

from __future__ import annotations

import math
import random
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

import pyarrow as pa
from pyspark.sql import SparkSession
from pyspark.sql import types as T
from pyspark.sql.pandas.types import to_arrow_schema

from spark_streaming.lake_writer import CollectedRows

LATENCY_SAMPLE_SIZE = 5_000

STREAM_BATCHES_SCHEMA = T.StructType(
    [
        T.StructField("query_name", T.StringType(), False),
        T.StructField("family", T.StringType(), False),
        T.StructField("batch_id", T.LongType(), False),
        T.StructField("started_at", T.TimestampType(), False),
        T.StructField("committed_at", T.TimestampType(), False),
        T.StructField("duration_ms", T.LongType(), False),
        T.StructField("input_rows", T.LongType(), False),
        T.StructField("quarantined_rows", T.LongType(), False),
        T.StructField("valid_events", T.LongType(), False),
        T.StructField("duplicate_events", T.LongType(), False),
        T.StructField("late_events", T.LongType(), False),
        T.StructField("stored_events", T.LongType(), False),
        T.StructField("watermark", T.TimestampType(), True),
        T.StructField("max_event_time", T.TimestampType(), True),
        T.StructField("latency_p50_ms", T.DoubleType(), True),
        T.StructField("latency_p95_ms", T.DoubleType(), True),
        T.StructField("latency_max_ms", T.DoubleType(), True),
        T.StructField("latency_sample_ms", T.ArrayType(T.IntegerType()), False),
        T.StructField("quarantine_reasons", T.MapType(T.StringType(), T.LongType()), False),
    ]
)

STREAM_BATCHES_ARROW_SCHEMA = to_arrow_schema(STREAM_BATCHES_SCHEMA, timezone="UTC")


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
        fields = {
            k: v
            for k, v in asdict(self).items()
            if k
            not in ("latencies_ms", "started_at", "committed_at", "quarantine_reasons", "phase_ms")
        }
        fields["phases_ms"] = ",".join(f"{k}:{v}" for k, v in self.phase_ms.items())
        fields.update(duration_ms=self.duration_ms, latency_p50_ms=p50, latency_p95_ms=p95)
        fields["latency_max_ms"] = worst
        return fields

    def to_rows(self, spark: SparkSession) -> CollectedRows:
        """The batch's ops.stream_batches row, built as Arrow in the driver: delta-rs
        writes it without a Spark job; a Spark writer gets it as a DataFrame."""
        row = self._row()
        record = dict(zip(STREAM_BATCHES_SCHEMA.names, row, strict=True))
        record["quarantine_reasons"] = list(self.quarantine_reasons.items())
        table = pa.Table.from_pylist([record], schema=STREAM_BATCHES_ARROW_SCHEMA)
        return CollectedRows(table, lambda: spark.createDataFrame([row], STREAM_BATCHES_SCHEMA))

    def _row(self) -> tuple:
        p50, p95, worst = latency_summary(self.latencies_ms)
        sample = self.latencies_ms
        if len(sample) > LATENCY_SAMPLE_SIZE:
            sample = random.Random(self.batch_id).sample(sample, LATENCY_SAMPLE_SIZE)
        return (
            self.query_name,
            self.family,
            self.batch_id,
            self.started_at,
            self.committed_at or self.started_at,
            self.duration_ms,
            self.input_rows,
            self.quarantined_rows,
            self.valid_events,
            self.duplicate_events,
            self.late_events,
            self.stored_events,
            self.watermark,
            self.max_event_time,
            p50,
            p95,
            worst,
            [int(v) for v in sample],
            dict(self.quarantine_reasons),
        )


def percentile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, min(len(ordered), math.ceil(q / 100 * len(ordered))))
    return float(ordered[rank - 1])


def latency_summary(values: Sequence[float]) -> tuple[float | None, float | None, float | None]:
    return percentile(values, 50), percentile(values, 95), (max(values) if values else None)


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
