"""Gold: a batch's contribution to each per-minute aggregate.

Each function returns the batch's rows for its table; the processor merges them with
the matching MergeSpec, adding counts and sums to the stored row of the same window.
Counting distinct transactions per batch is additive because every line of a
transaction is in one event, hence in one batch, and no other event carries its id
(the producer's ids carry its seed). Windows are tumbling and aligned to
the epoch, as Spark's `window()` makes them.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

import pyarrow as pa
import pyarrow.compute as pc

from retail_lakehouse.tables import (
    FUNNEL_BY_PRODUCT_MINUTE,
    SALES_BY_PRODUCT_MINUTE,
    SALES_BY_STORE_MINUTE,
)
from spark_streaming.lake_writer import MergeSpec

REVENUE = pa.decimal128(18, 2)
_TIMESTAMP = pa.timestamp("us", tz="UTC")
_CENT = Decimal("0.01")

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
    lines: pa.Table, window: timedelta, *, updated_at: datetime
) -> pa.Table:
    """Orders, units and revenue per product per tumbling event-time window."""
    grouped = _sales_measures(_windowed(lines, window), ["window_start", "product_id"])
    return pa.table(
        {
            **_window_bounds(grouped, window),
            "product_id": pc.cast(grouped["product_id"], pa.int64()),
            **_sales_columns(grouped),
            "updated_at": _stamp(grouped, updated_at),
        }
    )


def sales_by_store_minute(lines: pa.Table, window: timedelta, *, updated_at: datetime) -> pa.Table:
    """Orders, units, revenue and average order value per store and channel per window."""
    keys = ["window_start", "store_id", "channel"]
    grouped = _sales_measures(_windowed(lines, window), keys)
    measures = _sales_columns(grouped)
    average = [
        (revenue / orders).quantize(_CENT, ROUND_HALF_UP)
        for revenue, orders in zip(
            measures["revenue"].to_pylist(), measures["orders"].to_pylist(), strict=True
        )
    ]
    return pa.table(
        {
            **_window_bounds(grouped, window),
            "store_id": pc.cast(grouped["store_id"], pa.int32()),
            "channel": grouped["channel"],
            **measures,
            "avg_order_value": pa.array(average, REVENUE),
            "updated_at": _stamp(grouped, updated_at),
        }
    )


def funnel_by_product_minute(
    clicks: pa.Table, window: timedelta, *, updated_at: datetime
) -> pa.Table:
    """Views, carts, removes and purchases per product per window."""
    steps = _windowed(clicks, window)
    for event_type, column in FUNNEL_STEPS.items():
        hit = pc.cast(pc.equal(steps["event_type"], event_type), pa.int64())
        steps = steps.append_column(column, hit)
    grouped = steps.group_by(["window_start", "product_id"], use_threads=False).aggregate(
        [(column, "sum") for column in FUNNEL_STEPS.values()]
    )
    return pa.table(
        {
            **_window_bounds(grouped, window),
            "product_id": pc.cast(grouped["product_id"], pa.int64()),
            **{c: pc.cast(grouped[f"{c}_sum"], pa.int64()) for c in FUNNEL_STEPS.values()},
            "updated_at": _stamp(grouped, updated_at),
        }
    )


def window_start(event_time: pa.ChunkedArray | pa.Array, window: timedelta) -> pa.Array:
    """The start of each time's tumbling window, counted from the epoch like Spark's."""
    seconds = window.total_seconds()
    if seconds < 1 or seconds != int(seconds):
        raise ValueError(f"WINDOW_DURATION must be a whole number of seconds, got {window}")
    return pc.floor_temporal(event_time, multiple=int(seconds), unit="second")


def _windowed(rows: pa.Table, window: timedelta) -> pa.Table:
    return rows.append_column("window_start", window_start(rows["event_time"], window))


def _sales_measures(lines: pa.Table, keys: list[str]) -> pa.Table:
    return lines.group_by(keys, use_threads=False).aggregate(
        [
            ("transaction_id", "count_distinct"),
            ("quantity", "sum"),
            ("line_revenue", "sum"),
        ]
    )


def _sales_columns(grouped: pa.Table) -> dict[str, pa.ChunkedArray]:
    return {
        "orders": pc.cast(grouped["transaction_id_count_distinct"], pa.int64()),
        "units": pc.cast(grouped["quantity_sum"], pa.int64()),
        "revenue": pc.cast(grouped["line_revenue_sum"], REVENUE),
    }


def _window_bounds(grouped: pa.Table, window: timedelta) -> dict[str, pa.ChunkedArray]:
    start = pc.cast(grouped["window_start"], _TIMESTAMP)
    end = pc.add(start, pa.scalar(window, pa.duration("us")))
    return {"window_start": start, "window_end": pc.cast(end, _TIMESTAMP)}


def _stamp(rows: pa.Table, moment: datetime) -> pa.Array:
    return pa.array([moment] * rows.num_rows, _TIMESTAMP)
