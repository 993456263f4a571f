"""Gold: per-minute sales and funnel aggregates of one micro-batch.

Each function returns the batch's contribution to its gold table; the streaming job
merges it into the table with the matching MergeSpec, adding counts and sums to the
stored row of the same window. Counting distinct transactions per batch is additive
because every line of a transaction is in one event, hence in one batch.
"""

from __future__ import annotations

from datetime import datetime

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from retail_lakehouse.tables import (
    FUNNEL_BY_PRODUCT_MINUTE,
    SALES_BY_PRODUCT_MINUTE,
    SALES_BY_STORE_MINUTE,
)
from spark_streaming.lake_writer import MergeSpec
from spark_streaming.transforms.literals import timestamp_literal

REVENUE = T.DecimalType(18, 2)
_SALES_COLUMNS = ("orders", "units", "revenue")

# clickstream event_type -> funnel column
FUNNEL_STEPS = {
    "view": "views",
    "cart": "carts",
    "remove_from_cart": "removes",
    "purchase": "purchases",
}

# Kept to plain arithmetic, ROUND and CAST: valid in Spark SQL and in delta-rs (DataFusion)
_AVG_ORDER_VALUE_SQL = (
    "CAST(ROUND((t.revenue + s.revenue) / (t.orders + s.orders), 2) AS DECIMAL(18,2))"
)


def _add(*columns: str) -> dict[str, str]:
    return {c: f"t.{c} + s.{c}" for c in columns}


SALES_BY_PRODUCT_MERGE = MergeSpec(
    keys=SALES_BY_PRODUCT_MINUTE.keys,
    bounded_by="window_start",
    updates={**_add("orders", "units", "revenue"), "updated_at": "s.updated_at"},
)
SALES_BY_STORE_MERGE = MergeSpec(
    keys=SALES_BY_STORE_MINUTE.keys,
    bounded_by="window_start",
    updates={
        **_add("orders", "units", "revenue"),
        "avg_order_value": _AVG_ORDER_VALUE_SQL,
        "updated_at": "s.updated_at",
    },
)
FUNNEL_MERGE = MergeSpec(
    keys=FUNNEL_BY_PRODUCT_MINUTE.keys,
    bounded_by="window_start",
    updates={**_add(*FUNNEL_STEPS.values()), "updated_at": "s.updated_at"},
)


def sales_by_product_minute(
    sales_lines: DataFrame, window: str = "1 minute", *, updated_at: datetime
) -> DataFrame:
    """Orders, units and revenue per product per tumbling event-time window."""
    return (
        sales_lines.groupBy(F.window("event_time", window).alias("window"), "product_id")
        .agg(*_sales_measures())
        .select(
            *_window_bounds(), F.col("product_id").cast("long"), *_SALES_COLUMNS, _stamp(updated_at)
        )
    )


def sales_by_store_minute(
    sales_lines: DataFrame, window: str = "1 minute", *, updated_at: datetime
) -> DataFrame:
    """Orders, units, revenue and average order value per store and channel per window."""
    avg_order_value = F.round(F.col("revenue") / F.col("orders"), 2).cast(REVENUE)
    return (
        sales_lines.groupBy(F.window("event_time", window).alias("window"), "store_id", "channel")
        .agg(*_sales_measures())
        .select(
            *_window_bounds(),
            F.col("store_id").cast("int"),
            "channel",
            *_SALES_COLUMNS,
            avg_order_value.alias("avg_order_value"),
            _stamp(updated_at),
        )
    )


def funnel_by_product_minute(
    clickstream: DataFrame, window: str = "1 minute", *, updated_at: datetime
) -> DataFrame:
    """Views, carts, removes and purchases per product per window."""
    steps = [
        F.count(F.when(F.col("event_type") == event_type, True)).cast("long").alias(column)
        for event_type, column in FUNNEL_STEPS.items()
    ]
    return (
        clickstream.groupBy(F.window("event_time", window).alias("window"), "product_id")
        .agg(*steps)
        .select(
            *_window_bounds(),
            F.col("product_id").cast("long"),
            *FUNNEL_STEPS.values(),
            _stamp(updated_at),
        )
    )


def _sales_measures() -> list[Column]:
    return [
        F.countDistinct("transaction_id").cast("long").alias("orders"),
        F.sum("quantity").cast("long").alias("units"),
        F.sum("line_revenue").cast(REVENUE).alias("revenue"),
    ]


def _window_bounds() -> list[Column]:
    return [F.col("window.start").alias("window_start"), F.col("window.end").alias("window_end")]


def _stamp(updated_at: datetime) -> Column:
    return timestamp_literal(updated_at).alias("updated_at")
