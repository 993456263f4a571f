from __future__ import annotations

from decimal import Decimal

import pyarrow as pa
from chispa import assert_df_equality
from deltalake import DeltaTable, write_deltalake
from pyspark.sql import functions as F
from transforms_support import utc

from retail_lakehouse import tables
from spark_streaming.transforms.gold import (
    FUNNEL_MERGE,
    SALES_BY_PRODUCT_MERGE,
    SALES_BY_STORE_MERGE,
    funnel_by_product_minute,
    sales_by_product_minute,
    sales_by_store_minute,
)

UPDATED_AT = utc("2026-03-02 08:02:30")
W0, W1, W2 = utc("2026-03-02 08:00:00"), utc("2026-03-02 08:01:00"), utc("2026-03-02 08:02:00")

LINES_SCHEMA = (
    "transaction_id string, event_time timestamp, store_id int, channel string, "
    "product_id long, quantity int, line_revenue decimal(12,2)"
)


def sales_lines(spark):
    """Seven lines of six baskets over two minutes, two products, two stores, two channels."""
    return spark.createDataFrame(
        [
            ("t-1", utc("2026-03-02 08:00:10"), 1, "store", 100, 2, Decimal("20.00")),
            ("t-1", utc("2026-03-02 08:00:10"), 1, "store", 200, 1, Decimal("5.50")),
            ("t-2", utc("2026-03-02 08:00:59.999"), 1, "store", 100, 1, Decimal("10.00")),
            ("t-3", utc("2026-03-02 08:00:30"), 2, "online", 100, 3, Decimal("29.97")),
            ("t-4", utc("2026-03-02 08:01:00"), 1, "store", 100, 1, Decimal("9.99")),
            ("t-5", utc("2026-03-02 08:01:30"), 1, "online", 200, 4, Decimal("0.01")),
            ("t-6", utc("2026-03-02 08:01:40"), 1, "online", 200, 1, Decimal("0.04")),
        ],
        LINES_SCHEMA,
    )


BY_PRODUCT_SCHEMA = (
    "window_start timestamp, window_end timestamp, product_id long, orders long, units long, "
    "revenue decimal(18,2), updated_at timestamp"
)


def test_sales_by_product_minute(spark):
    actual = sales_by_product_minute(sales_lines(spark), "1 minute", updated_at=UPDATED_AT)

    expected = spark.createDataFrame(
        [
            (W0, W1, 100, 3, 6, Decimal("59.97"), UPDATED_AT),
            (W0, W1, 200, 1, 1, Decimal("5.50"), UPDATED_AT),
            (W1, W2, 100, 1, 1, Decimal("9.99"), UPDATED_AT),
            (W1, W2, 200, 2, 5, Decimal("0.05"), UPDATED_AT),
        ],
        BY_PRODUCT_SCHEMA,
    )
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


BY_STORE_SCHEMA = (
    "window_start timestamp, window_end timestamp, store_id int, channel string, orders long, "
    "units long, revenue decimal(18,2), avg_order_value decimal(18,2), updated_at timestamp"
)


def test_sales_by_store_minute_rounds_the_average_order_half_up(spark):
    actual = sales_by_store_minute(sales_lines(spark), updated_at=UPDATED_AT)

    expected = spark.createDataFrame(
        [
            (W0, W1, 1, "store", 2, 4, Decimal("35.50"), Decimal("17.75"), UPDATED_AT),
            (W0, W1, 2, "online", 1, 3, Decimal("29.97"), Decimal("29.97"), UPDATED_AT),
            (W1, W2, 1, "store", 1, 1, Decimal("9.99"), Decimal("9.99"), UPDATED_AT),
            # 0.05 / 2 = 0.025 -> 0.03
            (W1, W2, 1, "online", 2, 5, Decimal("0.05"), Decimal("0.03"), UPDATED_AT),
        ],
        BY_STORE_SCHEMA,
    )
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


def test_windows_follow_the_given_duration(spark):
    actual = sales_by_product_minute(sales_lines(spark), "2 minutes", updated_at=UPDATED_AT)

    expected = spark.createDataFrame(
        [
            (W0, W2, 100, 4, 7, Decimal("69.96"), UPDATED_AT),
            (W0, W2, 200, 3, 6, Decimal("5.55"), UPDATED_AT),
        ],
        BY_PRODUCT_SCHEMA,
    )
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


FUNNEL_SCHEMA = (
    "window_start timestamp, window_end timestamp, product_id long, views long, carts long, "
    "removes long, purchases long, updated_at timestamp"
)


def test_funnel_by_product_minute_counts_each_step(spark):
    clicks = spark.createDataFrame(
        [
            ("view", 1, utc("2026-03-02 08:00:01")),
            ("view", 1, utc("2026-03-02 08:00:30")),
            ("cart", 1, utc("2026-03-02 08:00:40")),
            ("remove_from_cart", 1, utc("2026-03-02 08:00:50")),
            ("purchase", 1, utc("2026-03-02 08:00:59")),
            ("view", 2, utc("2026-03-02 08:00:10")),
            ("purchase", 1, utc("2026-03-02 08:01:05")),
            ("view", 1, utc("2026-03-02 08:01:59.999")),
        ],
        "event_type string, product_id long, event_time timestamp",
    )

    actual = funnel_by_product_minute(clicks, "1 minute", updated_at=UPDATED_AT)

    expected = spark.createDataFrame(
        [
            (W0, W1, 1, 2, 1, 1, 1, UPDATED_AT),
            (W0, W1, 2, 1, 0, 0, 0, UPDATED_AT),
            (W1, W2, 1, 1, 0, 0, 1, UPDATED_AT),
        ],
        FUNNEL_SCHEMA,
    )
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


def test_merge_keys_are_the_gold_table_keys():
    assert SALES_BY_PRODUCT_MERGE.keys == ("window_start", "product_id")
    assert SALES_BY_STORE_MERGE.keys == ("window_start", "store_id", "channel")
    assert FUNNEL_MERGE.keys == ("window_start", "product_id")
    assert tables.SALES_BY_STORE_MINUTE.keys == SALES_BY_STORE_MERGE.keys
    assert set(SALES_BY_PRODUCT_MERGE.updates or {}) == {"orders", "units", "revenue", "updated_at"}


STORED = [(W0, W1, 1, "store", 1, 1, Decimal("0.10"), Decimal("0.10"), utc("2026-03-02 08:01:00"))]
ARRIVING = [(W0, W1, 1, "store", 1, 2, Decimal("0.05"), Decimal("0.05"), UPDATED_AT)]
# counts and sums add up; 0.15 / 2 = 0.075 rounds half up to 0.08
MERGED = [(W0, W1, 1, "store", 2, 3, Decimal("0.15"), Decimal("0.08"), UPDATED_AT)]


def test_store_merge_adds_a_batch_to_the_stored_window_in_spark_sql(spark):
    stored = spark.createDataFrame(STORED, BY_STORE_SCHEMA).alias("t")
    arriving = spark.createDataFrame(ARRIVING, BY_STORE_SCHEMA).alias("s")
    spec = SALES_BY_STORE_MERGE

    matched = stored.join(arriving, on=F.expr(spec.predicate), how="inner")
    updated = {column: F.expr(sql) for column, sql in (spec.updates or {}).items()}
    # a MERGE stores each assignment in the target column's type
    actual = matched.select(
        *(
            updated.get(c, F.col(f"t.{c}")).cast(stored.schema[c].dataType).alias(c)
            for c in stored.columns
        )
    )

    expected = spark.createDataFrame(MERGED, BY_STORE_SCHEMA)
    assert_df_equality(actual, expected, ignore_nullable=True)


def test_store_merge_adds_a_batch_to_the_stored_window_in_delta_rs(spark, tmp_path):
    stored = spark.createDataFrame(STORED, BY_STORE_SCHEMA).toArrow()
    arriving = spark.createDataFrame(ARRIVING, BY_STORE_SCHEMA).toArrow()
    write_deltalake(str(tmp_path), stored)
    spec = SALES_BY_STORE_MERGE

    (
        DeltaTable(str(tmp_path))
        .merge(arriving, predicate=spec.predicate, source_alias="s", target_alias="t")
        .when_matched_update(updates=dict(spec.updates or {}))
        .when_not_matched_insert_all()
        .execute()
    )

    merged: pa.Table = DeltaTable(str(tmp_path)).to_pyarrow_table()
    actual = spark.createDataFrame(merged.to_pylist(), BY_STORE_SCHEMA)
    expected = spark.createDataFrame(MERGED, BY_STORE_SCHEMA)
    assert_df_equality(actual, expected, ignore_nullable=True)


def test_funnel_merge_adds_counts_and_inserts_new_windows_in_delta_rs(spark, tmp_path):
    stored = [(W0, W1, 7, 2, 3, 1, 0, utc("2026-03-02 08:01:00"))]
    arriving = [(W0, W1, 7, 1, 1, 1, 2, UPDATED_AT), (W1, W2, 8, 1, 0, 0, 0, UPDATED_AT)]
    write_deltalake(str(tmp_path), spark.createDataFrame(stored, FUNNEL_SCHEMA).toArrow())

    (
        DeltaTable(str(tmp_path))
        .merge(
            spark.createDataFrame(arriving, FUNNEL_SCHEMA).toArrow(),
            predicate=FUNNEL_MERGE.predicate,
            source_alias="s",
            target_alias="t",
        )
        .when_matched_update(updates=dict(FUNNEL_MERGE.updates or {}))
        .when_not_matched_insert_all()
        .execute()
    )

    actual = spark.createDataFrame(
        DeltaTable(str(tmp_path)).to_pyarrow_table().to_pylist(), FUNNEL_SCHEMA
    )
    expected = spark.createDataFrame(
        [(W0, W1, 7, 3, 4, 2, 2, UPDATED_AT), (W1, W2, 8, 1, 0, 0, 0, UPDATED_AT)],
        FUNNEL_SCHEMA,
    )
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)
