"""The bench's outside view of latency, on small real Delta tables written here."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pyarrow as pa
from deltalake import CommitProperties, DeltaTable, Transaction, write_deltalake

from bench.catch_up import LayerFilter
from bench.delta_log import commits, rows_by_commit
from bench.latency import gold_latencies, percentiles, silver_latencies, table_dir
from bench.stack import stat
from retail_lakehouse import tables

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


def _commit(path: str, rows: pa.Table, batch_id: int) -> None:
    write_deltalake(
        path,
        rows,
        mode="append",
        commit_properties=CommitProperties(app_transactions=[Transaction("q", batch_id)]),
    )


def _sales(event_ids: list[str], produced: list[datetime], late: list[bool]) -> pa.Table:
    return pa.table(
        {
            "event_id": event_ids,
            "produced_at": pa.array(produced, pa.timestamp("us", tz="UTC")),
            "is_late": late,
        }
    )


def _history_ms(path: str) -> dict[int, int]:
    """Commit time per version, as delta-rs reports it (independent of bench.delta_log)."""
    return {h["version"]: int(h["timestamp"]) for h in DeltaTable(path).history()}


def test_latency_is_commit_time_minus_produce_time_per_layer(tmp_path):
    lake = str(tmp_path)
    silver = str(table_dir(lake, tables.SILVER_SALES_LINES))
    gold = str(table_dir(lake, tables.SALES_BY_PRODUCT_MINUTE))
    # batch 0: two events (one with two lines), batch 1: one on time, one late
    _commit(silver, _sales(["a", "a", "b"], [T0, T0, T0 + timedelta(seconds=1)], [False] * 3), 0)
    _commit(gold, pa.table({"window": [1]}), 0)
    _commit(silver, _sales(["c", "d"], [T0 + timedelta(seconds=2)] * 2, [False, True]), 1)
    _commit(gold, pa.table({"window": [2]}), 1)

    found = commits(table_dir(lake, tables.SILVER_SALES_LINES))
    assert [(c.version, c.batch_ids) for c in found] == [(0, (0,)), (1, (1,))]
    assert [
        r.num_rows
        for _, r in rows_by_commit(table_dir(lake, tables.SILVER_SALES_LINES), ["event_id"])
    ] == [3, 2]

    s_ms, g_ms = _history_ms(silver), _history_ms(gold)
    t0 = T0.timestamp() * 1000
    everything = (t0 - 1, t0 + 10_000)
    expected_silver = sorted(
        [s_ms[0] - t0, s_ms[0] - t0 - 1000, s_ms[1] - t0 - 2000, s_ms[1] - t0 - 2000]
    )
    assert sorted(silver_latencies(lake, *everything)) == expected_silver
    # the late event never reaches gold; the rest reach it with their batch's gold commit
    expected_gold = sorted([g_ms[0] - t0, g_ms[0] - t0 - 1000, g_ms[1] - t0 - 2000])
    assert sorted(gold_latencies(lake, *everything)) == expected_gold
    # a window on produce time leaves the first events out
    assert sorted(gold_latencies(lake, t0 + 1500, t0 + 10_000)) == [g_ms[1] - t0 - 2000]


def test_percentiles_and_run_statistics():
    figures = percentiles(np.arange(1, 101, dtype=float))
    assert figures == {"n": 100, "p50_ms": 50.5, "p95_ms": 95.0, "p99_ms": 99.0, "max_ms": 100.0}
    assert percentiles([])["p95_ms"] is None
    assert stat([3.0, 1.0, 2.0]) == {"median": 2.0, "min": 1.0, "max": 3.0, "runs": 3}


class _Recorder:
    def __init__(self):
        self.calls = []

    def append(self, spec, rows, txn):
        self.calls.append(spec.qualified_name)
        return True

    def merge(self, spec, rows, merge, txn):
        self.calls.append(spec.qualified_name)
        return True

    def is_committed(self, spec, txn):
        return False


def test_layer_filter_drops_only_the_skipped_layers_writes():
    inner = _Recorder()
    writer = LayerFilter(inner, ("silver", "gold"))
    assert writer.append(tables.BRONZE_SALES, None, None) is True
    assert writer.append(tables.SILVER_SALES_LINES, None, None) is False
    assert writer.append(tables.SALES_BY_PRODUCT_MINUTE, None, None) is False
    assert writer.append(tables.STREAM_BATCHES, None, None) is True
    assert writer.merge(tables.SALES_BY_PRODUCT_MINUTE, None, None, None) is False
    assert writer.is_committed(tables.SILVER_SALES_LINES, None) is False
    assert inner.calls == ["bronze.sales_transactions", "ops.stream_batches"]


def test_a_compaction_adds_no_rows_to_the_outside_view(tmp_path):
    """Compaction rewrites rows already committed (dataChange false): counting them
    again would add every compacted row once more, with a later commit time."""
    lake = str(tmp_path)
    silver = str(table_dir(lake, tables.SILVER_SALES_LINES))
    _commit(silver, _sales(["a"], [T0], [False]), 0)
    _commit(silver, _sales(["b"], [T0], [False]), 1)
    DeltaTable(silver).optimize.compact()

    found = commits(table_dir(lake, tables.SILVER_SALES_LINES))
    assert [c.operation for c in found] == ["WRITE", "WRITE", "OPTIMIZE"]
    assert [len(c.added) for c in found] == [1, 1, 0]
    assert len(silver_latencies(lake, T0.timestamp() * 1000 - 1, T0.timestamp() * 1000 + 1)) == 2
