from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pyarrow as pa
import pytest
from batch_support import MONEY, TS, assert_tables_equal, rows_table, utc
from chispa import assert_df_equality
from deltalake import DeltaTable, write_deltalake
from pyspark.sql import functions as F

from retail_lakehouse import tables
from spark_streaming.batch.gold import (
    FUNNEL_MERGE,
    SALES_BY_PRODUCT_MERGE,
    SALES_BY_STORE_MERGE,
    funnel_by_product_minute,
    sales_by_product_minute,
    sales_by_store_minute,
    window_start,
)

UPDATED_AT = utc("2026-03-02 08:02:30")
W0, W1, W2 = utc("2026-03-02 08:00:00"), utc("2026-03-02 08:01:00"), utc("2026-03-02 08:02:00")
MINUTE = timedelta(minutes=1)

REVENUE = pa.decimal128(18, 2)
# the columns of silver sales lines that gold reads
LINES = pa.schema(
    [
        ("transaction_id", pa.string()),
        ("event_time", TS),
        ("store_id", pa.int32()),
        ("channel", pa.string()),
        ("product_id", pa.int64()),
        ("quantity", pa.int32()),
        ("line_revenue", MONEY),
    ]
)


def sales_lines() -> pa.Table:
    """Nine lines of eight baskets over two minutes, three products, three stores, two
    channels."""
    return rows_table(
        [
            ("t-1", utc("2026-03-02 08:00:10"), 1, "store", 100, 2, Decimal("20.00")),
            ("t-1", utc("2026-03-02 08:00:10"), 1, "store", 200, 1, Decimal("5.50")),
            ("t-2", utc("2026-03-02 08:00:59.999"), 1, "store", 100, 1, Decimal("10.00")),
            ("t-3", utc("2026-03-02 08:00:30"), 2, "online", 100, 3, Decimal("29.97")),
            ("t-4", utc("2026-03-02 08:01:00"), 1, "store", 100, 1, Decimal("9.99")),
            ("t-5", utc("2026-03-02 08:01:30"), 1, "online", 200, 4, Decimal("0.01")),
            ("t-6", utc("2026-03-02 08:01:40"), 1, "online", 200, 1, Decimal("0.04")),
            ("t-7", utc("2026-03-02 08:00:20"), 3, "store", 300, 1, Decimal("10.00")),
            ("t-8", utc("2026-03-02 08:00:40"), 3, "store", 300, 1, Decimal("10.01")),
        ],
        LINES,
    )


BY_PRODUCT = pa.schema(
    [
        ("window_start", TS),
        ("window_end", TS),
        ("product_id", pa.int64()),
        ("orders", pa.int64()),
        ("units", pa.int64()),
        ("revenue", REVENUE),
        ("updated_at", TS),
    ]
)
BY_STORE = pa.schema(
    [
        ("window_start", TS),
        ("window_end", TS),
        ("store_id", pa.int32()),
        ("channel", pa.string()),
        ("orders", pa.int64()),
        ("units", pa.int64()),
        ("revenue", REVENUE),
        ("avg_order_value", REVENUE),
        ("updated_at", TS),
    ]
)
FUNNEL = pa.schema(
    [
        ("window_start", TS),
        ("window_end", TS),
        ("product_id", pa.int64()),
        ("views", pa.int64()),
        ("carts", pa.int64()),
        ("removes", pa.int64()),
        ("purchases", pa.int64()),
        ("updated_at", TS),
    ]
)


def test_sales_by_product_minute_counts_distinct_transactions():
    actual = sales_by_product_minute(sales_lines(), MINUTE, updated_at=UPDATED_AT)

    expected = rows_table(
        [
            (W0, W1, 100, 3, 6, Decimal("59.97"), UPDATED_AT),
            (W0, W1, 200, 1, 1, Decimal("5.50"), UPDATED_AT),
            (W0, W1, 300, 2, 2, Decimal("20.01"), UPDATED_AT),
            (W1, W2, 100, 1, 1, Decimal("9.99"), UPDATED_AT),
            (W1, W2, 200, 2, 5, Decimal("0.05"), UPDATED_AT),
        ],
        BY_PRODUCT,
    )
    assert_tables_equal(actual, expected, keys=["window_start", "product_id"])


def test_sales_by_store_minute_rounds_the_average_order_half_up():
    actual = sales_by_store_minute(sales_lines(), MINUTE, updated_at=UPDATED_AT)

    expected = rows_table(
        [
            (W0, W1, 1, "store", 2, 4, Decimal("35.50"), Decimal("17.75"), UPDATED_AT),
            (W0, W1, 2, "online", 1, 3, Decimal("29.97"), Decimal("29.97"), UPDATED_AT),
            # 20.01 / 2 = 10.005 -> 10.01
            (W0, W1, 3, "store", 2, 2, Decimal("20.01"), Decimal("10.01"), UPDATED_AT),
            (W1, W2, 1, "store", 1, 1, Decimal("9.99"), Decimal("9.99"), UPDATED_AT),
            # 0.05 / 2 = 0.025 -> 0.03
            (W1, W2, 1, "online", 2, 5, Decimal("0.05"), Decimal("0.03"), UPDATED_AT),
        ],
        BY_STORE,
    )
    assert_tables_equal(actual, expected, keys=["window_start", "store_id", "channel"])


def test_windows_follow_the_given_duration():
    actual = sales_by_product_minute(sales_lines(), 2 * MINUTE, updated_at=UPDATED_AT)

    expected = rows_table(
        [
            (W0, W2, 100, 4, 7, Decimal("69.96"), UPDATED_AT),
            (W0, W2, 200, 3, 6, Decimal("5.55"), UPDATED_AT),
            (W0, W2, 300, 2, 2, Decimal("20.01"), UPDATED_AT),
        ],
        BY_PRODUCT,
    )
    assert_tables_equal(actual, expected, keys=["window_start", "product_id"])


def test_windows_are_aligned_to_the_epoch_as_sparks_are():
    times = pa.array(
        [
            utc("2026-03-02 08:00:10"),
            utc("2026-03-02 08:03:59.999"),
            utc("2026-03-02 08:04:00"),
            utc("1970-01-01 00:06:59"),
        ],
        TS,
    )

    actual = window_start(times, timedelta(minutes=7))

    # 2026-03-02 08:00:10 is 1772438410 s after the epoch; 1772438410 % 420 = 190
    assert actual.type == TS
    assert actual.to_pylist() == [
        utc("2026-03-02 07:57:00"),
        utc("2026-03-02 07:57:00"),
        utc("2026-03-02 08:04:00"),
        utc("1970-01-01 00:00:00"),
    ]


@pytest.mark.parametrize("window", [timedelta(milliseconds=500), timedelta(seconds=1.5)])
def test_a_window_must_be_whole_seconds(window):
    with pytest.raises(ValueError, match="whole number of seconds"):
        window_start(pa.array([W0], TS), window)


def test_funnel_by_product_minute_counts_each_step():
    clicks = rows_table(
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
        pa.schema([("event_type", pa.string()), ("product_id", pa.int64()), ("event_time", TS)]),
    )

    actual = funnel_by_product_minute(clicks, MINUTE, updated_at=UPDATED_AT)

    expected = rows_table(
        [
            (W0, W1, 1, 2, 1, 1, 1, UPDATED_AT),
            (W0, W1, 2, 1, 0, 0, 0, UPDATED_AT),
            (W1, W2, 1, 1, 0, 0, 1, UPDATED_AT),
        ],
        FUNNEL,
    )
    assert_tables_equal(actual, expected, keys=["window_start", "product_id"])


def test_a_batch_without_on_time_rows_contributes_nothing():
    no_lines = rows_table([], LINES)
    no_clicks = rows_table(
        [], pa.schema([("event_type", pa.string()), ("product_id", pa.int64()), ("event_time", TS)])
    )

    by_product = sales_by_product_minute(no_lines, MINUTE, updated_at=UPDATED_AT)
    by_store = sales_by_store_minute(no_lines, MINUTE, updated_at=UPDATED_AT)
    funnel = funnel_by_product_minute(no_clicks, MINUTE, updated_at=UPDATED_AT)

    assert_tables_equal(by_product, rows_table([], BY_PRODUCT))
    assert_tables_equal(by_store, rows_table([], BY_STORE))
    assert_tables_equal(funnel, rows_table([], FUNNEL))


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
BY_STORE_DDL = (
    "window_start timestamp, window_end timestamp, store_id int, channel string, orders long, "
    "units long, revenue decimal(18,2), avg_order_value decimal(18,2), updated_at timestamp"
)


def test_store_merge_adds_a_batch_to_the_stored_window_in_spark_sql(spark):
    stored = spark.createDataFrame(STORED, BY_STORE_DDL).alias("t")
    arriving = spark.createDataFrame(ARRIVING, BY_STORE_DDL).alias("s")
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

    expected = spark.createDataFrame(MERGED, BY_STORE_DDL)
    assert_df_equality(actual, expected, ignore_nullable=True)


def test_store_merge_adds_a_batch_to_the_stored_window_in_delta_rs(tmp_path):
    write_deltalake(str(tmp_path), rows_table(STORED, BY_STORE))
    spec = SALES_BY_STORE_MERGE

    (
        DeltaTable(str(tmp_path))
        .merge(
            rows_table(ARRIVING, BY_STORE),
            predicate=spec.predicate,
            source_alias="s",
            target_alias="t",
        )
        .when_matched_update(updates=dict(spec.updates or {}))
        .when_not_matched_insert_all()
        .execute()
    )

    actual = DeltaTable(str(tmp_path)).to_pyarrow_table()
    assert actual.to_pylist() == rows_table(MERGED, BY_STORE).to_pylist()


def test_funnel_merge_adds_counts_and_inserts_new_windows_in_delta_rs(tmp_path):
    stored = [(W0, W1, 7, 2, 3, 1, 0, utc("2026-03-02 08:01:00"))]
    arriving = [(W0, W1, 7, 1, 1, 1, 2, UPDATED_AT), (W1, W2, 8, 1, 0, 0, 0, UPDATED_AT)]
    write_deltalake(str(tmp_path), rows_table(stored, FUNNEL))

    (
        DeltaTable(str(tmp_path))
        .merge(
            rows_table(arriving, FUNNEL),
            predicate=FUNNEL_MERGE.predicate,
            source_alias="s",
            target_alias="t",
        )
        .when_matched_update(updates=dict(FUNNEL_MERGE.updates or {}))
        .when_not_matched_insert_all()
        .execute()
    )

    actual = DeltaTable(str(tmp_path)).to_pyarrow_table()
    expected = rows_table(
        [(W0, W1, 7, 3, 4, 2, 2, UPDATED_AT), (W1, W2, 8, 1, 0, 0, 0, UPDATED_AT)], FUNNEL
    )
    order = [("window_start", "ascending"), ("product_id", "ascending")]
    assert actual.sort_by(order).to_pylist() == expected.sort_by(order).to_pylist()
