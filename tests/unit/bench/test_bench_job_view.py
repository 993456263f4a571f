"""What the bench reads of the job: ops commits from the Delta log as they land, and
the batch and trigger log lines."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest
from deltalake import DeltaTable, write_deltalake

from bench.job_view import BatchLogCapture, per_batch, phase_medians, trigger_medians
from bench.lake_watch import OpsWatch, wait_caught_up
from bench.latency import table_dir
from retail_lakehouse import tables
from spark_streaming.batch_metrics import BatchMetrics, ops_rows

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


def _ops_commit(lake: str, batch_id: int, rows: dict[str, int]) -> None:
    metrics = []
    for family, count in rows.items():
        m = BatchMetrics("retail_pipeline", family, batch_id, T0 + timedelta(seconds=batch_id))
        m.input_rows = count
        metrics.append(m)
    write_deltalake(str(table_dir(lake, tables.STREAM_BATCHES)), ops_rows(metrics), mode="append")


def test_ops_watch_reads_each_batch_once_as_it_lands(tmp_path):
    lake = str(tmp_path)
    watch = OpsWatch(lake).poll()
    assert watch.batches == [] and watch.last_commit_ms is None

    _ops_commit(lake, 0, {"sales": 10, "clickstream": 30})
    _ops_commit(lake, 1, {"sales": 5, "inventory": 7})
    watch.poll()
    assert [(b.batch_id, b.rows) for b in watch.batches] == [
        (0, {"sales": 10, "clickstream": 30}),
        (1, {"sales": 5, "inventory": 7}),
    ]
    assert watch.batches[0].started_ms == T0.timestamp() * 1000
    history = {
        h["version"]: h["timestamp"]
        for h in DeltaTable(str(table_dir(lake, tables.STREAM_BATCHES))).history()
    }
    assert watch.last_commit_ms == history[1]

    # a compaction rewrites the rows (dataChange false): nothing new was read
    DeltaTable(str(table_dir(lake, tables.STREAM_BATCHES))).optimize.compact()
    _ops_commit(lake, 2, {"clickstream": 1})
    assert dict(watch.poll().rows) == {"sales": 15, "clickstream": 31, "inventory": 7}
    assert len(watch.batches) == 3

    assert wait_caught_up(watch, {"sales": 15, "clickstream": 31}, timeout_s=1) > 0
    with pytest.raises(TimeoutError, match="did not catch up"):
        wait_caught_up(watch, {"sales": 16}, timeout_s=0.3)


def _log(message: str) -> None:
    logging.getLogger("spark_streaming.batch.processor").info(message)


def test_batch_lines_become_one_entry_per_batch_and_triggers_their_medians():
    with BatchLogCapture() as capture:
        for family, rows in (("sales", 40), ("clickstream", 60)):
            _log(
                f"event=batch_committed query=retail_pipeline family={family} batch_id=3 "
                f"input_rows={rows} phases_ms=read_validate:300,prepare:50,commit:90 "
                "duration_ms=460"
            )
        _log(
            "event=batch_committed query=retail_pipeline family=sales batch_id=4 input_rows=9 "
            "phases_ms=read_validate:100,prepare:10,commit:30 duration_ms=150"
        )
        for total, added in ((900, 500), (700, 400), (400, 300)):
            _log(f"event=query_progress batch=1 addBatch_ms={added} triggerExecution_ms={total}")
        _log("event=something_else x=1")

    batches = per_batch(capture.batches)
    assert [(b["batch_id"], b["input_rows"], b["duration_ms"]) for b in batches] == [
        ("3", 100, 460),
        ("4", 9, 150),
    ]
    assert phase_medians(batches) == {"commit": 60.0, "prepare": 30.0, "read_validate": 200.0}
    assert trigger_medians(capture.triggers) == {
        "addBatch_ms": 400.0,
        "triggerExecution_ms": 700.0,
        "spark_overhead_ms": 300.0,
    }
