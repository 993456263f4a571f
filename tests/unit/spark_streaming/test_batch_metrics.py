"""The ops.stream_batches rows of a micro-batch: one Arrow row per family it read."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from spark_streaming.batch_metrics import (
    LATENCY_SAMPLE_SIZE,
    STREAM_BATCHES_SCHEMA,
    BatchMetrics,
    ops_rows,
)

STARTED = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
OFFSETS = '{"retail.sales": {"0": 12, "1": 9}}'


def test_a_family_batch_is_one_literal_row_of_the_table_schema() -> None:
    sales = BatchMetrics(
        "retail_pipeline",
        "sales",
        7,
        started_at=STARTED,
        committed_at=STARTED + timedelta(seconds=2),
        input_rows=12,
        quarantined_rows=3,
        valid_events=9,
        duplicate_events=1,
        late_events=2,
        stored_events=6,
        watermark=STARTED - timedelta(minutes=2),
        max_event_time=STARTED,
        latencies_ms=[2500.0, 1500.0, 900.0],
        quarantine_reasons={"malformed_json": 2, "out_of_range": 1},
        end_offsets=OFFSETS,
    )

    rows = ops_rows([sales])

    assert rows.schema == STREAM_BATCHES_SCHEMA
    assert rows.to_pylist() == [
        {
            "query_name": "retail_pipeline",
            "family": "sales",
            "batch_id": 7,
            "started_at": STARTED,
            "committed_at": datetime(2026, 3, 2, 8, 0, 2, tzinfo=UTC),
            "duration_ms": 2_000,
            "input_rows": 12,
            "quarantined_rows": 3,
            "valid_events": 9,
            "duplicate_events": 1,
            "late_events": 2,
            "stored_events": 6,
            "watermark": datetime(2026, 3, 2, 7, 58, tzinfo=UTC),
            "max_event_time": STARTED,
            "latency_p50_ms": 1_500.0,
            "latency_p95_ms": 2_500.0,
            "latency_max_ms": 2_500.0,
            "latency_sample_ms": [2_500, 1_500, 900],
            "quarantine_reasons": [("malformed_json", 2), ("out_of_range", 1)],
            "end_offsets": '{"retail.sales": {"0": 12, "1": 9}}',
        }
    ]


def test_each_family_of_a_batch_gets_its_own_row() -> None:
    """A family with no input still gets a row: no latencies, no watermark, no offsets;
    an uncommitted batch counts as committed when it started (duration 0)."""
    batch = [
        BatchMetrics("retail_pipeline", "sales", 3, started_at=STARTED, input_rows=4),
        BatchMetrics("retail_pipeline", "inventory", 3, started_at=STARTED),
    ]

    rows = ops_rows(batch)

    assert rows.schema == STREAM_BATCHES_SCHEMA
    empty = {
        "query_name": "retail_pipeline",
        "batch_id": 3,
        "started_at": STARTED,
        "committed_at": STARTED,
        "duration_ms": 0,
        "input_rows": 0,
        "quarantined_rows": 0,
        "valid_events": 0,
        "duplicate_events": 0,
        "late_events": 0,
        "stored_events": 0,
        "watermark": None,
        "max_event_time": None,
        "latency_p50_ms": None,
        "latency_p95_ms": None,
        "latency_max_ms": None,
        "latency_sample_ms": [],
        "quarantine_reasons": [],
        "end_offsets": None,
    }
    assert rows.to_pylist() == [
        {**empty, "family": "sales", "input_rows": 4},
        {**empty, "family": "inventory"},
    ]


def test_no_families_is_an_empty_table_of_the_schema() -> None:
    rows = ops_rows([])
    assert rows.schema == STREAM_BATCHES_SCHEMA
    assert rows.num_rows == 0


def test_the_latency_sample_is_capped_and_the_same_on_a_replay() -> None:
    """Percentiles come from every latency; the stored sample is a seeded subset."""
    latencies = [float(ms) for ms in range(1, LATENCY_SAMPLE_SIZE + 1_001)]

    def row() -> dict:
        metrics = BatchMetrics(
            "retail_pipeline", "sales", 11, started_at=STARTED, latencies_ms=latencies
        )
        return ops_rows([metrics]).to_pylist()[0]

    first, replay = row(), row()

    sample = first["latency_sample_ms"]
    assert len(sample) == 5_000
    assert len(set(sample)) == 5_000
    assert set(sample) <= set(range(1, 6_001))
    assert sample == replay["latency_sample_ms"]
    assert (first["latency_p50_ms"], first["latency_p95_ms"], first["latency_max_ms"]) == (
        3_000.0,
        5_700.0,
        6_000.0,
    )
