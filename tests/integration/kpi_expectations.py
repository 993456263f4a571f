"""The independent computation the dbt tests compare the marts with: pandas over the
landed (or lake) rows, money as exact Decimals rounded half-up like the marts."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

import pandas as pd

from retail_lakehouse import tables, warehouse
from retail_lakehouse.settings import Settings

CENT = Decimal("0.01")


def read_mart(settings: Settings, name: str) -> pd.DataFrame:
    with warehouse.connect(settings, schema=settings.snowflake_analytics_schema) as conn:
        cursor = conn.cursor()
        cursor.execute(f"select * from {name}")
        frame = cursor.fetch_pandas_all()
    return frame.rename(columns=str.lower)


def expected_daily_kpis(landed: dict[str, pd.DataFrame]) -> pd.DataFrame:
    lines = _money(landed[tables.SILVER_SALES_LINES.warehouse_name], "LINE_REVENUE")
    lines["kpi_date"] = lines["EVENT_TIME"].dt.date
    daily = lines.groupby("kpi_date").agg(
        orders=("TRANSACTION_ID", "nunique"),
        units=("QUANTITY", "sum"),
        revenue_usd=("LINE_REVENUE", lambda s: sum(s, Decimal(0))),
        distinct_customers=("CUSTOMER_ID", "nunique"),
    )
    daily["avg_order_value_usd"] = [
        _half_up(revenue / orders)
        for revenue, orders in zip(daily["revenue_usd"], daily["orders"], strict=True)
    ]
    batches = landed[tables.STREAM_BATCHES.warehouse_name].dropna(subset=["MAX_EVENT_TIME"])
    latency = batches.groupby(batches["MAX_EVENT_TIME"].dt.date)["LATENCY_P95_MS"].median()
    daily["streaming_latency_ms"] = latency.reindex(daily.index)
    return normalized(daily.reset_index(), tables.DAILY_KPIS.columns)


def expected_aov_by_band(landed: dict[str, pd.DataFrame]) -> pd.DataFrame:
    lines = _money(
        landed[tables.SILVER_SALES_LINES.warehouse_name], "UNIT_PRICE", "DISCOUNT", "LINE_REVENUE"
    )
    lines["GROSS"] = [q * p for q, p in zip(lines["QUANTITY"], lines["UNIT_PRICE"], strict=True)]
    total = lambda s: sum(s, Decimal(0))  # noqa: E731
    orders = lines.groupby("TRANSACTION_ID").agg(
        units=("QUANTITY", "sum"),
        gross_usd=("GROSS", total),
        discount_usd=("DISCOUNT", total),
        revenue_usd=("LINE_REVENUE", total),
    )
    orders["discount_band"] = [
        _band(d, g) for d, g in zip(orders["discount_usd"], orders["gross_usd"], strict=True)
    ]
    bands = orders.groupby("discount_band").agg(
        orders=("units", "size"),
        units=("units", "sum"),
        gross_usd=("gross_usd", total),
        discount_usd=("discount_usd", total),
        revenue_usd=("revenue_usd", total),
    )
    bands["avg_order_value_usd"] = [
        _half_up(r / o) for r, o in zip(bands["revenue_usd"], bands["orders"], strict=True)
    ]
    return bands.reset_index()


def _band(discount: Decimal, gross: Decimal) -> str:
    pct = (discount * 100 / gross).quantize(Decimal(1), rounding=ROUND_HALF_UP) if gross else 0
    for upper, label in ((0, "0%"), (5, "1-5%"), (10, "6-10%"), (15, "11-15%"), (25, "16-25%")):
        if pct <= upper:
            return label
    return "26%+"


def _half_up(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def _money(frame: pd.DataFrame, *columns: str) -> pd.DataFrame:
    frame = frame.copy()
    for column in columns:
        frame[column] = [Decimal(str(v)) for v in frame[column]]
    return frame


def normalized(frame: pd.DataFrame, columns: tuple[str, ...] | list[str]) -> pd.DataFrame:
    """Comparable values: money as Decimal cents, counts as int, dates as date."""
    out = frame[list(columns)].copy()
    for column in out.columns:
        if column.endswith("_usd"):
            out[column] = [
                None if pd.isna(v) else Decimal(str(v)).quantize(CENT) for v in out[column]
            ]
        elif column in ("orders", "units", "distinct_customers", "product_id"):
            out[column] = out[column].astype("int64")
        elif column == "kpi_date":
            out[column] = pd.to_datetime(out[column]).dt.date
        elif column in ("window_start", "window_end"):
            out[column] = pd.to_datetime(out[column]).astype("datetime64[us]")
        elif column == "streaming_latency_ms":
            out[column] = out[column].astype("float64")
    return out
