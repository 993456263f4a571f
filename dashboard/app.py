"""Retail lakehouse dashboard: `streamlit run dashboard/app.py` (or `make dashboard`).

Reads the dbt marts in SNOWFLAKE_ANALYTICS_SCHEMA through retail_lakehouse.warehouse,
so it shows the local fakesnow emulator or a real Snowflake account depending on
settings alone. Each read opens a connection and closes it at once: the emulator's
DuckDB file is locked by whichever process holds it open, and the loader and dbt
need to write to it while the page is up.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

# `streamlit run dashboard/app.py` puts dashboard/ itself on sys.path, not the repo root.
_REPO_ROOT = str(Path(__file__).resolve().parents[1])
if _REPO_ROOT not in sys.path:
    sys.path.insert(0, _REPO_ROOT)

import pandas as pd  # noqa: E402
import streamlit as st  # noqa: E402

from dashboard import charts, queries  # noqa: E402
from dashboard.queries import Panel  # noqa: E402
from retail_lakehouse import warehouse  # noqa: E402
from retail_lakehouse.settings import Settings  # noqa: E402
from retail_lakehouse.tables import ALL_MARTS  # noqa: E402

# The "last minutes" panel re-reads the warehouse this often, by itself.
REFRESH_SECONDS = 10
# The rest of the page is cached this long; reload the page for fresher numbers.
PAGE_CACHE_SECONDS = 30


# what a number shows when the mart has no value for it
NO_VALUE = "n/a"


class WarehouseUnavailable(Exception):
    """The warehouse could not be reached or read; the message says what to do."""


def _read(panels: tuple[Panel, ...]) -> tuple[set[str], dict[str, pd.DataFrame]]:
    """One short-lived connection: which marts exist, and each panel whose marts do."""
    settings = Settings()
    schema = settings.snowflake_analytics_schema
    try:
        with warehouse.connect(settings, schema=schema) as conn:
            present = queries.existing_marts(conn, schema)
            frames = {
                panel.title: queries.load_panel(conn, panel)
                for panel in panels
                if not queries.missing_marts(present, panel.marts)
            }
    except Exception as error:  # the connector raises many kinds; all mean the same here
        first_line = (str(error).strip().splitlines() or [type(error).__name__])[0]
        raise WarehouseUnavailable(
            f"Could not read the warehouse ({warehouse.describe(settings)}): {first_line[:300]}"
        ) from error
    return present, frames


@st.cache_data(ttl=PAGE_CACHE_SECONDS, show_spinner="Reading the warehouse…")
def read_page() -> tuple[set[str], dict[str, pd.DataFrame]]:
    return _read(queries.ALL_PANELS)


@st.cache_data(ttl=REFRESH_SECONDS / 2, show_spinner=False)
def read_recent() -> tuple[pd.DataFrame | None, pd.DataFrame | None]:
    _, frames = _read((queries.RECENT_PRODUCT_SALES, queries.LIVE_FRESHNESS))
    return (
        frames.get(queries.RECENT_PRODUCT_SALES.title),
        frames.get(queries.LIVE_FRESHNESS.title),
    )


def money(value: float | None, decimals: int = 2) -> str:
    return NO_VALUE if value is None or pd.isna(value) else f"${value:,.{decimals}f}"


def count(value: float | None) -> str:
    return NO_VALUE if value is None or pd.isna(value) else f"{int(value):,}"


def timestamp(value: Any) -> str:
    if value is None or pd.isna(value):
        return NO_VALUE
    return pd.Timestamp(value).strftime("%Y-%m-%d %H:%M:%S UTC")


def _delta(today: float, previous: float | None, fmt: str) -> str | None:
    if previous is None:
        return None
    change = today - previous
    return f"{change:+,.2f}" if fmt == "money" else f"{int(change):+,}"


def missing_notice(present: set[str], panel: Panel) -> bool:
    """Show which mart a panel lacks; True when it cannot be drawn."""
    missing = queries.missing_marts(present, panel.marts)
    if missing:
        st.info(f"No `{', '.join(missing)}` mart yet: run `make demo` to build it.")
    return bool(missing)


def kpi_section(present: set[str], frames: dict[str, pd.DataFrame]) -> None:
    panel = queries.TODAY_KPIS
    if missing_notice(present, panel):
        return
    kpis = queries.today_kpis(frames[panel.title])
    if kpis is None:
        st.info("fct_daily_kpis has no rows yet: run `make demo` to stream some sales.")
        return
    prev = kpis.previous
    st.caption(
        f"**Today = {pd.Timestamp(kpis.kpi_date):%A %d %B %Y}**, the latest sales date in "
        "the warehouse: the demo runs on simulated clocks, so the page follows the data, "
        "not the wall clock. Deltas compare with the whole day before, while today may "
        "still be running."
    )
    daily = frames.get(queries.DAILY_TREND.title)
    cards = [
        ("kpi-orders", "Orders", count(kpis.orders), "orders"),
        ("kpi-revenue", "Revenue", money(kpis.revenue_usd), "revenue_usd"),
        ("kpi-aov", "Average order value", money(kpis.avg_order_value_usd), "avg_order_value_usd"),
        ("kpi-units", "Units sold", count(kpis.units), "units"),
    ]
    for column, (key, label, shown, field) in zip(st.columns(len(cards)), cards, strict=True):
        today_value = float(getattr(kpis, field))
        before = float(getattr(prev, field)) if prev is not None else None
        fmt = "money" if field.endswith("_usd") else "count"
        trend = list(daily[field].astype(float)) if daily is not None and len(daily) > 1 else None
        # the keyed container gives each number a stable selector: .st-key-kpi-orders
        with column, st.container(key=key):
            st.metric(
                label,
                shown,
                _delta(today_value, before, fmt),
                border=True,
                chart_data=trend,
                chart_type="area",
            )


@st.fragment(run_every=REFRESH_SECONDS)
def recent_sales_section() -> None:
    panel = queries.RECENT_PRODUCT_SALES
    st.subheader(panel.title)
    try:
        frame, freshness = read_recent()
    except WarehouseUnavailable as error:
        st.warning(str(error))
        return
    if frame is None:
        st.info("No `fct_product_sales_minute` mart yet: run `make demo` to build it.")
        return
    if frame.empty:
        st.info("No sales in the last minutes.")
        return
    shaped = queries.top_products_with_other(frame)
    age = queries.live_age(freshness if freshness is not None else pd.DataFrame())
    # the keyed container gives the age a stable selector: .st-key-live-age
    with st.container(key="live-age"):
        st.markdown(
            f"**Newest minute {pd.Timestamp(frame['window_start'].max()):%H:%M} UTC: "
            f"{age.describe()}**"
        )
    st.altair_chart(charts.recent_product_sales(shaped), width="stretch")
    st.caption(
        f"Ages by the warehouse's clock · refreshes every {REFRESH_SECONDS} s · top "
        f"{queries.TOP_PRODUCTS} products by revenue, the rest as 'Other products'."
    )


def daily_section(present: set[str], frames: dict[str, pd.DataFrame]) -> None:
    panel = queries.DAILY_TREND
    st.subheader("Revenue and orders per day")
    if missing_notice(present, panel):
        return
    st.altair_chart(charts.daily_revenue(frames[panel.title]), width="stretch")


def stores_section(present: set[str], frames: dict[str, pd.DataFrame]) -> None:
    st.header("Stores")
    left, right = st.columns(2)
    with left:
        st.subheader(f"Revenue per store, last {queries.STORE_DAYS} days")
        if not missing_notice(present, queries.STORE_DAILY):
            st.altair_chart(charts.store_daily(frames[queries.STORE_DAILY.title]), width="stretch")
    with right:
        st.subheader("Revenue per store and hour, latest day")
        if not missing_notice(present, queries.STORE_HOURLY):
            st.altair_chart(
                charts.store_hourly_heatmap(frames[queries.STORE_HOURLY.title]),
                width="stretch",
            )


def customers_section(present: set[str], frames: dict[str, pd.DataFrame]) -> None:
    st.header("Customers")
    funnel_col, aov_col = st.columns(2)
    with funnel_col:
        st.subheader("Funnel conversion, latest day (sessions)")
        if not missing_notice(present, queries.FUNNEL_TOTALS):
            totals = frames[queries.FUNNEL_TOTALS.title]
            steps = queries.funnel_steps(totals)
            st.altair_chart(charts.funnel(steps), width="stretch")
            st.dataframe(
                frames[queries.FUNNEL_BY_CATEGORY.title],
                column_order=(
                    "category_code",
                    "sessions_viewed",
                    "sessions_carted",
                    "sessions_purchased",
                    "conversion_rate",
                    "cart_abandonment_rate",
                ),
                hide_index=True,
                width="stretch",
                height=210,
                column_config={
                    "category_code": "Category",
                    "sessions_viewed": st.column_config.NumberColumn("Viewed", format="%d"),
                    "sessions_carted": st.column_config.NumberColumn("Carted", format="%d"),
                    "sessions_purchased": st.column_config.NumberColumn("Bought", format="%d"),
                    "conversion_rate": st.column_config.NumberColumn(
                        "Conversion", format="percent"
                    ),
                    "cart_abandonment_rate": st.column_config.NumberColumn(
                        "Abandoned carts", format="percent"
                    ),
                },
            )
    with aov_col:
        st.subheader("Average order value by discount band")
        if not missing_notice(present, queries.AOV_BY_DISCOUNT):
            st.altair_chart(
                charts.aov_by_discount(
                    queries.discount_bands_in_order(frames[queries.AOV_BY_DISCOUNT.title])
                ),
                width="stretch",
            )
        st.subheader("Customer lifetime value")
        if not missing_notice(present, queries.CUSTOMER_LIFETIME_VALUE):
            clv = frames[queries.CUSTOMER_LIFETIME_VALUE.title]
            summary = queries.clv_summary(clv)
            a, b, c = st.columns(3)
            a.metric("Known customers", count(summary["customers"]))
            b.metric(
                "Median lifetime value",
                money(summary["median_usd"]),
                help="Spent so far plus the projection: average order value x purchases "
                "per year x 2 more years (fct_customer_lifetime_value).",
            )
            c.metric("90th percentile", money(summary["p90_usd"]))
            st.altair_chart(charts.clv_histogram(clv), width="stretch")


def inventory_section(present: set[str], frames: dict[str, pd.DataFrame]) -> None:
    st.header("Inventory")
    st.subheader(queries.LOW_STOCK.title)
    if missing_notice(present, queries.LOW_STOCK):
        return
    frame = frames[queries.LOW_STOCK.title]
    top_days = float(frame["days_of_supply"].max()) if frame["days_of_supply"].notna().any() else 1
    st.dataframe(
        frame,
        hide_index=True,
        width="stretch",
        height=(len(frame) + 1) * 35 + 3,  # all rows, no inner scrolling
        column_config={
            "low_stock_rank": st.column_config.NumberColumn("Rank", format="%d"),
            "store_name": "Store",
            "product_name": "Product",
            "on_hand": st.column_config.NumberColumn("On hand", format="%d"),
            "safety_stock": st.column_config.NumberColumn("Safety stock", format="%d"),
            "is_below_safety_stock": st.column_config.CheckboxColumn("Below safety"),
            "avg_daily_units_last_7d": st.column_config.NumberColumn(
                "Units/day (7 d)", format="%.1f"
            ),
            "days_of_supply": st.column_config.ProgressColumn(
                "Days of supply", format="%.1f", min_value=0, max_value=max(top_days, 1.0)
            ),
            "projected_sell_through_date": st.column_config.DateColumn("Sells out by"),
        },
    )


def health_section(present: set[str], frames: dict[str, pd.DataFrame]) -> None:
    st.header("Pipeline health")
    if missing_notice(present, queries.PIPELINE_HEALTH):
        return
    frame = frames[queries.PIPELINE_HEALTH.title]
    summary = queries.health_summary(frame)
    latency = summary["latency_p95_ms"]
    cells = st.columns(4)
    with cells[0], st.container(key="health-latency"):
        st.metric(
            "End-to-end latency p95",
            NO_VALUE if latency is None else f"{latency / 1000:,.2f} s",
            help="Produce time to row in the gold table, worst streaming query.",
            border=True,
        )
    with cells[1], st.container(key="health-last-load"):
        loaded = summary["last_loaded_at"]
        st.metric(
            "Last warehouse load" + ("" if loaded is None else f", {pd.Timestamp(loaded):%b %d}"),
            NO_VALUE if loaded is None else f"{pd.Timestamp(loaded):%H:%M:%S} UTC",
            help=f"Newest load of any lake table into the warehouse: {timestamp(loaded)}",
            border=True,
        )
    with cells[2], st.container(key="health-late"):
        st.metric("Late events", count(summary["late_events"]), border=True)
    with cells[3], st.container(key="health-quarantined"):
        st.metric("Quarantined events", count(summary["quarantined_rows"]), border=True)
    st.dataframe(
        frame,
        hide_index=True,
        width="stretch",
        column_config={
            "query_name": "Query",
            "family": "Events",
            "batches": st.column_config.NumberColumn("Batches", format="%d"),
            "input_rows": st.column_config.NumberColumn("Rows", format="%d"),
            "late_events": st.column_config.NumberColumn("Late", format="%d"),
            "duplicate_events": st.column_config.NumberColumn("Duplicates", format="%d"),
            "quarantined_rows": st.column_config.NumberColumn("Quarantined", format="%d"),
            "latency_p50_ms": st.column_config.NumberColumn("p50 ms", format="%d"),
            "latency_p95_ms": st.column_config.NumberColumn("p95 ms", format="%d"),
            "last_batch_at": st.column_config.DatetimeColumn("Last batch"),
            "last_loaded_at": st.column_config.DatetimeColumn("Last load"),
        },
    )
    trend_col, events_col = st.columns(2)
    with trend_col:
        st.subheader("Latency per day")
        daily = frames.get(queries.DAILY_TREND.title)
        if daily is not None and daily["streaming_latency_ms"].notna().any():
            st.altair_chart(charts.daily_latency(daily), width="stretch")
            st.caption(
                "The day's p95 produce-to-gold latency of the sales stream, over every "
                "sampled sale."
            )
        else:
            st.info("No latency measured yet.")
    with events_col:
        st.subheader("Late, duplicate and quarantined events")
        st.altair_chart(charts.problem_events(queries.problem_events(frame)), width="stretch")


def main() -> None:
    st.set_page_config(page_title="Retail lakehouse", page_icon="🛒", layout="wide")
    settings = Settings()
    st.title("Retail lakehouse: live sales")
    st.caption(
        f"dbt marts in schema `{settings.snowflake_analytics_schema}` of "
        f"`{settings.snowflake_database}` on the {warehouse.describe(settings)}. "
        f"Read at {datetime.now(UTC):%H:%M:%S} UTC."
    )
    try:
        present, frames = read_page()
    except WarehouseUnavailable as error:
        st.error(
            f"{error}\n\nCheck the SNOWFLAKE_* settings, or run `make demo` to build the "
            "local warehouse, then reload this page."
        )
        st.stop()
    if not present & {mart.name for mart in ALL_MARTS}:
        st.info(
            f"The warehouse has no dbt marts yet in schema "
            f"`{settings.snowflake_analytics_schema}`. Run `make demo` (events → Kafka → "
            "Spark → Delta → warehouse → dbt), then reload this page."
        )
        st.stop()

    kpi_section(present, frames)
    trend_col, recent_col = st.columns([2, 3])
    with trend_col:
        daily_section(present, frames)
    with recent_col:
        recent_sales_section()
    stores_section(present, frames)
    customers_section(present, frames)
    inventory_section(present, frames)
    health_section(present, frames)


main()
