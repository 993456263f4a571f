"""DeltaRsWriter merges of Arrow batches: additive upserts, decimal averages and their
rounding (checked against Spark SQL, which evaluates them on a delta-spark cluster)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pytest
from deltalake import DeltaTable
from lake_support import assert_tables_equal
from pyspark.sql import SparkSession

from retail_lakehouse.settings import Settings
from retail_lakehouse.tables import TableSpec
from spark_streaming.delta_rs_writer import DeltaRsWriter
from spark_streaming.lake_writer import BatchTxn, MergeSpec

UTC = dt.UTC
TS = pa.timestamp("us", tz="UTC")
MONEY = pa.decimal128(18, 2)
BY_STORE = TableSpec("gold", "sales_by_store", "test", keys=("window_start", "store_id"))
SCHEMA = pa.schema(
    [
        ("window_start", TS),
        ("store_id", pa.int32()),
        ("orders", pa.int64()),
        ("revenue", MONEY),
        ("avg_order_value", MONEY),
        ("size", pa.string()),
        ("updated_at", TS),
    ]
)
LEVELS_SCHEMA = pa.schema(
    [
        ("store_id", pa.int32()),
        ("product_id", pa.int64()),
        ("on_hand", pa.int64()),
        ("first_seen_at", TS),
    ]
)
ADDITIVE_UPDATES = {
    "orders": "t.orders + s.orders",
    "revenue": "t.revenue + s.revenue",
    "avg_order_value": "CAST((t.revenue + s.revenue) / (t.orders + s.orders) AS DECIMAL(18,2))",
    "size": "CASE WHEN t.orders + s.orders >= 3 THEN 'busy' ELSE 'quiet' END",
    "updated_at": "s.updated_at",
}
ADDITIVE = MergeSpec(keys=BY_STORE.keys, updates=ADDITIVE_UPDATES)


def minute(m: int) -> dt.datetime:
    return dt.datetime(2026, 3, 1, 9, m, tzinfo=UTC)


def row(m: int, store: int, orders: int, revenue: str, avg: str, size: str, at: int) -> tuple:
    return (minute(m), store, orders, Decimal(revenue), Decimal(avg), size, minute(at))


def table(rows: list[tuple], schema: pa.Schema = SCHEMA) -> pa.Table:
    return pa.Table.from_pylist([dict(zip(schema.names, r, strict=True)) for r in rows], schema)


def assert_stored(writer: DeltaRsWriter, spec: TableSpec, expected: pa.Table) -> None:
    assert_tables_equal(writer.read_arrow(spec), expected, keys=spec.keys)


@pytest.fixture
def writer(tmp_path: Path) -> DeltaRsWriter:
    return DeltaRsWriter(Settings(lake_root=str(tmp_path / "lake")))


def test_additive_merge_over_several_batches(writer: DeltaRsWriter) -> None:
    batches = [
        [row(0, 1, 1, "10.00", "10.00", "quiet", 30), row(0, 2, 2, "5.00", "2.50", "quiet", 30)],
        [row(0, 1, 2, "0.01", "0.01", "quiet", 31), row(1, 1, 1, "4.00", "4.00", "quiet", 31)],
        [row(0, 2, 1, "0.05", "0.05", "quiet", 32)],
    ]
    for batch_id, rows in enumerate(batches):
        assert writer.merge(BY_STORE, table(rows), ADDITIVE, BatchTxn("sales", batch_id))

    # worked by hand: (10.00 + 0.01) / 3 = 3.3366..., (5.00 + 0.05) / 3 = 1.6833...
    expected = table(
        [
            row(0, 1, 3, "10.01", "3.34", "busy", 31),
            row(0, 2, 3, "5.05", "1.68", "busy", 32),
            row(1, 1, 1, "4.00", "4.00", "quiet", 31),
        ]
    )
    assert_stored(writer, BY_STORE, expected)


def test_replayed_merge_is_skipped(writer: DeltaRsWriter) -> None:
    batch = table([row(0, 1, 1, "10.00", "10.00", "quiet", 30)])
    assert writer.merge(BY_STORE, batch, ADDITIVE, BatchTxn("sales", 0)) is True
    again = table([row(0, 1, 1, "10.00", "10.00", "quiet", 40)])
    assert writer.merge(BY_STORE, again, ADDITIVE, BatchTxn("sales", 0)) is False
    assert writer.merge(BY_STORE, SCHEMA.empty_table(), ADDITIVE, BatchTxn("sales", 1)) is False

    assert_stored(writer, BY_STORE, table([row(0, 1, 1, "10.00", "10.00", "quiet", 30)]))
    assert not writer.is_committed(BY_STORE, BatchTxn("sales", 1))  # empty: no commit


def test_an_empty_first_batch_creates_no_table(writer: DeltaRsWriter) -> None:
    assert writer.merge(BY_STORE, SCHEMA.empty_table(), ADDITIVE, BatchTxn("sales", 0)) is False
    assert not writer.exists(BY_STORE)


def test_a_merge_commit_carries_the_batch_note(writer: DeltaRsWriter) -> None:
    first, second = '{"retail.sales": {"0": 1}}', '{"retail.sales": {"0": 2}}'
    batch = table([row(0, 1, 1, "10.00", "10.00", "quiet", 30)])
    writer.merge(BY_STORE, batch, ADDITIVE, BatchTxn("sales", 0, metadata=first))
    writer.merge(BY_STORE, batch, ADDITIVE, BatchTxn("sales", 1, metadata=second))

    newest = DeltaTable(writer.uri(BY_STORE)).history(1)[0]
    assert (newest["operation"], newest["userMetadata"]) == ("MERGE", second)
    assert writer.user_metadata(BY_STORE) == [second, first]


AVERAGE_EXPRESSIONS = [
    "CAST((t.revenue + s.revenue) / (t.orders + s.orders) AS DECIMAL(18,2))",
    "CAST(ROUND((t.revenue + s.revenue) / (t.orders + s.orders), 2) AS DECIMAL(18,2))",
]


@pytest.mark.parametrize("average", AVERAGE_EXPRESSIONS)
def test_decimal_average_rounds_half_up_like_spark(
    spark: SparkSession, writer: DeltaRsWriter, average: str
) -> None:
    merge = MergeSpec(keys=BY_STORE.keys, updates={**ADDITIVE_UPDATES, "avg_order_value": average})
    # pairs (revenue, orders) whose averages sit on or next to a .xx5 boundary
    stored_part = [("0.04", 1), ("-0.04", 1), ("1.00", 2), ("0.01", 7), ("3.00", 5)]
    batch_part = [("0.01", 1), ("-0.01", 1), ("1.00", 1), ("0.00", 1), ("0.01", 1)]
    first = [row(0, i, o, r, "0", "quiet", 0) for i, (r, o) in enumerate(stored_part)]
    second = [row(0, i, o, r, "0", "quiet", 1) for i, (r, o) in enumerate(batch_part)]
    writer.merge(BY_STORE, table(first), merge, BatchTxn("sales", 0))
    writer.merge(BY_STORE, table(second), merge, BatchTxn("sales", 1))

    stored = writer.read_arrow(BY_STORE, ["store_id", "avg_order_value"])
    assert stored is not None
    by_store = {r["store_id"]: r["avg_order_value"] for r in stored.to_pylist()}
    # 0.05/2 = 0.025, -0.05/2 = -0.025, 2.00/3 = 0.666.., 0.01/8 = 0.00125, 3.01/6 = 0.50166..
    expected = ["0.03", "-0.03", "0.67", "0.00", "0.50"]
    assert by_store == {i: Decimal(v) for i, v in enumerate(expected)}

    # and Spark SQL, which evaluates the same expression on a delta-spark cluster, agrees
    sums = [
        (Decimal(r1) + Decimal(r2), o1 + 1)
        for (r1, o1), (r2, _) in zip(stored_part, batch_part, strict=True)
    ]
    spark_sql = average.replace("t.revenue + s.revenue", "revenue").replace(
        "t.orders + s.orders", "orders"
    )
    pairs = spark.createDataFrame(sums, "revenue decimal(18,2), orders long")
    spark_values = [r["v"] for r in pairs.selectExpr(f"{spark_sql} AS v").collect()]
    assert spark_values == [Decimal(v) for v in expected]


def test_merge_without_updates_replaces_matched_rows(writer: DeltaRsWriter) -> None:
    spec = TableSpec("gold", "levels", "test", keys=("store_id", "product_id"))
    replace_all = MergeSpec(keys=spec.keys)
    keep_first_seen = MergeSpec(keys=spec.keys, extra={"first_seen_at": "t.first_seen_at"})

    def levels(rows: list[tuple]) -> pa.Table:
        return table(rows, LEVELS_SCHEMA)

    writer.merge(spec, levels([(1, 10, 5, minute(0))]), replace_all, BatchTxn("inventory", 0))
    writer.merge(
        spec,
        levels([(1, 10, 7, minute(1)), (1, 11, 2, minute(1))]),
        replace_all,
        BatchTxn("inventory", 1),
    )
    writer.merge(spec, levels([(1, 11, 9, minute(2))]), keep_first_seen, BatchTxn("inventory", 2))

    assert_stored(writer, spec, levels([(1, 10, 7, minute(1)), (1, 11, 9, minute(1))]))


def test_merge_bounded_by_the_batch_window_range_skips_other_files(writer: DeltaRsWriter) -> None:
    bounded = MergeSpec(keys=BY_STORE.keys, updates=ADDITIVE_UPDATES, bounded_by="window_start")
    # one file per minute: each batch inserts only new windows
    for m in range(4):
        rows = [row(m, 1, 1, "2.00", "2.00", "quiet", 30)]
        assert writer.merge(BY_STORE, table(rows), bounded, BatchTxn("sales", m))
    late = [row(2, 1, 1, "4.00", "4.00", "quiet", 40)]
    assert writer.merge(BY_STORE, table(late), bounded, BatchTxn("sales", 4))

    metrics = DeltaTable(writer.uri(BY_STORE)).history(1)[0]["operationMetrics"]
    assert metrics["num_target_files_scanned"] == 1  # only minute 2's file
    expected = table(
        [
            row(0, 1, 1, "2.00", "2.00", "quiet", 30),
            row(1, 1, 1, "2.00", "2.00", "quiet", 30),
            row(2, 1, 2, "6.00", "3.00", "quiet", 40),
            row(3, 1, 1, "2.00", "2.00", "quiet", 30),
        ]
    )
    assert_stored(writer, BY_STORE, expected)
