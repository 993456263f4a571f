"""DeltaRsWriter merges: additive upserts, decimal averages and their rounding."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest
from chispa import assert_df_equality
from pyspark.sql import DataFrame, SparkSession

from retail_lakehouse.settings import Settings
from retail_lakehouse.tables import TableSpec
from spark_streaming.delta_rs_writer import DeltaRsWriter
from spark_streaming.lake_writer import BatchTxn, MergeSpec

UTC = dt.UTC
BY_STORE = TableSpec("gold", "sales_by_store", "test", keys=("window_start", "store_id"))
SCHEMA = (
    "window_start timestamp, store_id int, orders long, revenue decimal(18,2), "
    "avg_order_value decimal(18,2), size string, updated_at timestamp"
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


@pytest.fixture
def writer(tmp_path: Path) -> DeltaRsWriter:
    return DeltaRsWriter(Settings(lake_root=str(tmp_path / "lake")))


def frame(spark: SparkSession, rows: list[tuple]) -> DataFrame:
    return spark.createDataFrame(rows, SCHEMA)


def stored(spark: SparkSession, writer: DeltaRsWriter, spec: TableSpec) -> DataFrame:
    table = writer.read_arrow(spec)
    assert table is not None
    return spark.createDataFrame(table)


def test_additive_merge_over_several_batches(spark: SparkSession, writer: DeltaRsWriter) -> None:
    batches = [
        [row(0, 1, 1, "10.00", "10.00", "quiet", 30), row(0, 2, 2, "5.00", "2.50", "quiet", 30)],
        [row(0, 1, 2, "0.01", "0.01", "quiet", 31), row(1, 1, 1, "4.00", "4.00", "quiet", 31)],
        [row(0, 2, 1, "0.05", "0.05", "quiet", 32)],
    ]
    for batch_id, rows in enumerate(batches):
        assert writer.merge(BY_STORE, frame(spark, rows), ADDITIVE, BatchTxn("sales", batch_id))

    # worked by hand: (10.00 + 0.01) / 3 = 3.3366..., (5.00 + 0.05) / 3 = 1.6833...
    expected = frame(
        spark,
        [
            row(0, 1, 3, "10.01", "3.34", "busy", 31),
            row(0, 2, 3, "5.05", "1.68", "busy", 32),
            row(1, 1, 1, "4.00", "4.00", "quiet", 31),
        ],
    )
    assert_df_equality(stored(spark, writer, BY_STORE), expected, ignore_row_order=True)


def test_replayed_merge_is_skipped(spark: SparkSession, writer: DeltaRsWriter) -> None:
    batch = frame(spark, [row(0, 1, 1, "10.00", "10.00", "quiet", 30)])
    assert writer.merge(BY_STORE, batch, ADDITIVE, BatchTxn("sales", 0)) is True
    again = frame(spark, [row(0, 1, 1, "10.00", "10.00", "quiet", 40)])
    assert writer.merge(BY_STORE, again, ADDITIVE, BatchTxn("sales", 0)) is False
    assert writer.merge(BY_STORE, frame(spark, []), ADDITIVE, BatchTxn("sales", 1)) is False

    expected = frame(spark, [row(0, 1, 1, "10.00", "10.00", "quiet", 30)])
    assert_df_equality(stored(spark, writer, BY_STORE), expected, ignore_row_order=True)


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
    writer.merge(BY_STORE, frame(spark, first), merge, BatchTxn("sales", 0))
    writer.merge(BY_STORE, frame(spark, second), merge, BatchTxn("sales", 1))

    table = writer.read_arrow(BY_STORE, ["store_id", "avg_order_value"])
    assert table is not None
    by_store = {r["store_id"]: r["avg_order_value"] for r in table.to_pylist()}
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


def test_merge_without_updates_replaces_matched_rows(
    spark: SparkSession, writer: DeltaRsWriter
) -> None:
    spec = TableSpec("gold", "levels", "test", keys=("store_id", "product_id"))
    schema = "store_id int, product_id long, on_hand long, first_seen_at timestamp"
    replace_all = MergeSpec(keys=spec.keys)
    keep_first_seen = MergeSpec(keys=spec.keys, extra={"first_seen_at": "t.first_seen_at"})

    writer.merge(
        spec,
        spark.createDataFrame([(1, 10, 5, minute(0))], schema),
        replace_all,
        BatchTxn("inventory", 0),
    )
    writer.merge(
        spec,
        spark.createDataFrame([(1, 10, 7, minute(1)), (1, 11, 2, minute(1))], schema),
        replace_all,
        BatchTxn("inventory", 1),
    )
    writer.merge(
        spec,
        spark.createDataFrame([(1, 11, 9, minute(2))], schema),
        keep_first_seen,
        BatchTxn("inventory", 2),
    )

    expected = spark.createDataFrame([(1, 10, 7, minute(1)), (1, 11, 9, minute(1))], schema)
    assert_df_equality(stored(spark, writer, spec), expected, ignore_row_order=True)


def test_merge_bounded_by_the_batch_window_range_skips_other_files(
    spark: SparkSession, writer: DeltaRsWriter
) -> None:
    from deltalake import DeltaTable

    bounded = MergeSpec(keys=BY_STORE.keys, updates=ADDITIVE_UPDATES, bounded_by="window_start")
    # one file per minute: each batch inserts only new windows
    for m in range(4):
        rows = [row(m, 1, 1, "2.00", "2.00", "quiet", 30)]
        assert writer.merge(BY_STORE, frame(spark, rows), bounded, BatchTxn("sales", m))
    late = [row(2, 1, 1, "4.00", "4.00", "quiet", 40)]
    assert writer.merge(BY_STORE, frame(spark, late), bounded, BatchTxn("sales", 4))

    metrics = DeltaTable(writer.uri(BY_STORE)).history(1)[0]["operationMetrics"]
    assert metrics["num_target_files_scanned"] == 1  # only minute 2's file
    expected = frame(
        spark,
        [
            row(0, 1, 1, "2.00", "2.00", "quiet", 30),
            row(1, 1, 1, "2.00", "2.00", "quiet", 30),
            row(2, 1, 2, "6.00", "3.00", "quiet", 40),
            row(3, 1, 1, "2.00", "2.00", "quiet", 30),
        ],
    )
    assert_df_equality(stored(spark, writer, BY_STORE), expected, ignore_row_order=True)
