"""The ops.stream_batches row: built as Arrow for delta-rs, as a DataFrame for Spark."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from spark_streaming.batch_metrics import STREAM_BATCHES_SCHEMA, BatchMetrics

STARTED = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


def test_the_arrow_row_and_the_spark_row_are_the_same_row(spark) -> None:
    metrics = BatchMetrics(
        "sales_pipeline",
        "sales",
        7,
        started_at=STARTED,
        committed_at=STARTED + timedelta(seconds=2),
        input_rows=12,
        quarantined_rows=3,
        valid_events=9,
        stored_events=9,
        watermark=STARTED - timedelta(minutes=2),
        max_event_time=STARTED,
        latencies_ms=[1500.0, 2500.0],
        quarantine_reasons={"malformed_json": 2, "out_of_range": 1},
    )

    rows = metrics.to_rows(spark)
    frame = rows.frame()

    assert frame.schema == STREAM_BATCHES_SCHEMA
    arrow, spark_rows = (
        _with_maps_as_dicts(t.to_pylist()) for t in (rows.toArrow(), frame.toArrow())
    )
    assert arrow == spark_rows
    assert arrow[0]["duration_ms"] == 2_000
    assert arrow[0]["latency_p95_ms"] == 2_500.0
    assert arrow[0]["latency_sample_ms"] == [1_500, 2_500]
    assert arrow[0]["quarantine_reasons"] == {"malformed_json": 2, "out_of_range": 1}
    assert arrow[0]["watermark"] == STARTED - timedelta(minutes=2)


def _with_maps_as_dicts(rows: list[dict]) -> list[dict]:
    """A map's entries come back in no fixed order (Spark keeps a hash map)."""
    return [{**r, "quarantine_reasons": dict(r["quarantine_reasons"])} for r in rows]
