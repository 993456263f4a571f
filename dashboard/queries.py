"""The SQL behind each dashboard panel, and the small reads that run it.

Every panel reads one or two dbt marts (``retail_lakehouse.tables.ALL_MARTS``) in
SNOWFLAKE_ANALYTICS_SCHEMA. The SQL is plain Snowflake SQL that also runs on the
fakesnow emulator, so the same page works locally and against a real account.

The demo runs on simulated clocks, so "today" and "the last minutes" are anchored
to the newest data in the marts, not to the wall clock.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Protocol

import pandas as pd

from retail_lakehouse import tables
from retail_lakehouse.tables import MartSpec

# How far back the auto-refreshing "last minutes" panel looks from the newest window.
RECENT_MINUTES = 15
# How many products the "last minutes" chart keeps apart; the rest are summed as "other".
TOP_PRODUCTS = 8
# The low-stock table's length.
LOW_STOCK_ITEMS = 20
# Days shown in the store comparison.
STORE_DAYS = 14
# Customers read for the lifetime-value histogram (a sample bound for big accounts).
CLV_MAX_CUSTOMERS = 100_000


class Cursor(Protocol):
    description: Sequence[Sequence[Any]] | None

    def execute(self, command: str, params: Any = ...) -> Any: ...
    def fetchall(self) -> list[tuple[Any, ...]]: ...
    def close(self) -> Any: ...


class Connection(Protocol):
    def cursor(self) -> Any: ...


@dataclass(frozen=True)
class Panel:
    """One dashboard panel: the marts it needs and the SQL that feeds it."""

    title: str
    marts: tuple[MartSpec, ...]
    sql: str


def _t(spec: MartSpec) -> str:
    return spec.warehouse_name


TODAY_KPIS = Panel(
    "Today's KPIs",
    (tables.DAILY_KPIS,),
    f"""
    select kpi_date, orders, units, revenue_usd, avg_order_value_usd,
           distinct_customers, streaming_latency_ms
    from {_t(tables.DAILY_KPIS)}
    order by kpi_date desc
    limit 2
    """,
)

DAILY_TREND = Panel(
    "Daily KPIs",
    (tables.DAILY_KPIS,),
    f"""
    select kpi_date, orders, units, revenue_usd, avg_order_value_usd, streaming_latency_ms
    from {_t(tables.DAILY_KPIS)}
    order by kpi_date
    """,
)

# How old the live panel's newest minute is, by the warehouse's own clock (SYSDATE() is
# UTC): when its window ended, and when the loader landed it.
LIVE_FRESHNESS = Panel(
    "Live panel freshness",
    (tables.PRODUCT_SALES_MINUTE,),
    f"""
    select max(window_end) as newest_window_end,
           max(loaded_at) as newest_loaded_at,
           sysdate() as read_at
    from {_t(tables.PRODUCT_SALES_MINUTE)}
    """,
)

RECENT_PRODUCT_SALES = Panel(
    f"Sales per product, last {RECENT_MINUTES} minutes",
    (tables.PRODUCT_SALES_MINUTE,),
    f"""
    with latest as (
        select max(window_start) as newest from {_t(tables.PRODUCT_SALES_MINUTE)}
    )
    select s.window_start, s.product_id, s.product_name, s.orders, s.units, s.revenue_usd
    from {_t(tables.PRODUCT_SALES_MINUTE)} s
    cross join latest
    where s.window_start > dateadd(minute, -{RECENT_MINUTES}, latest.newest)
    order by s.window_start, s.product_id
    """,
)

STORE_DAILY = Panel(
    "Stores by day",
    (tables.STORE_SALES_DAILY,),
    f"""
    with latest as (select max(sales_date) as newest from {_t(tables.STORE_SALES_DAILY)})
    select s.sales_date, s.store_id, s.store_name,
           sum(s.orders) as orders, sum(s.units) as units, sum(s.revenue_usd) as revenue_usd
    from {_t(tables.STORE_SALES_DAILY)} s
    cross join latest
    where s.sales_date > dateadd(day, -{STORE_DAYS}, latest.newest)
    group by s.sales_date, s.store_id, s.store_name
    order by s.sales_date, s.store_id
    """,
)

STORE_HOURLY = Panel(
    "Stores by hour of the latest day",
    (tables.STORE_SALES_HOURLY,),
    f"""
    with latest as (
        select date_trunc('day', max(sales_hour)) as newest_day
        from {_t(tables.STORE_SALES_HOURLY)}
    )
    select s.sales_hour, s.store_id, s.store_name,
           sum(s.orders) as orders, sum(s.revenue_usd) as revenue_usd
    from {_t(tables.STORE_SALES_HOURLY)} s
    cross join latest
    where s.sales_hour >= latest.newest_day
    group by s.sales_hour, s.store_id, s.store_name
    order by s.sales_hour, s.store_id
    """,
)

LOW_STOCK = Panel(
    f"The {LOW_STOCK_ITEMS} lowest-stock items",
    (tables.INVENTORY_HEALTH,),
    f"""
    select low_stock_rank, store_name, product_name, on_hand, safety_stock,
           is_below_safety_stock, avg_daily_units_last_7d, days_of_supply,
           projected_sell_through_date
    from {_t(tables.INVENTORY_HEALTH)}
    order by low_stock_rank, store_id, product_id
    limit {LOW_STOCK_ITEMS}
    """,
)

# The funnel of the latest business date: sessions per step summed over categories (a
# session that looked at two categories counts in each)
FUNNEL_TOTALS = Panel(
    "Funnel",
    (tables.FUNNEL_BY_CATEGORY,),
    f"""
    with latest as (select max(funnel_date) as newest from {_t(tables.FUNNEL_BY_CATEGORY)})
    select max(f.funnel_date) as funnel_date,
           sum(f.sessions_viewed) as sessions_viewed,
           sum(f.sessions_carted) as sessions_carted,
           sum(f.sessions_purchased) as sessions_purchased
    from {_t(tables.FUNNEL_BY_CATEGORY)} f
    cross join latest
    where f.funnel_date = latest.newest
    """,
)

FUNNEL_BY_CATEGORY = Panel(
    "Funnel by category",
    (tables.FUNNEL_BY_CATEGORY,),
    f"""
    with latest as (select max(funnel_date) as newest from {_t(tables.FUNNEL_BY_CATEGORY)})
    select f.category_code, f.sessions_viewed, f.sessions_carted, f.sessions_purchased,
           f.view_to_cart_rate, f.cart_to_purchase_rate, f.conversion_rate,
           f.cart_abandonment_rate
    from {_t(tables.FUNNEL_BY_CATEGORY)} f
    cross join latest
    where f.funnel_date = latest.newest
    order by f.conversion_rate desc nulls last, f.category_code
    """,
)

CUSTOMER_LIFETIME_VALUE = Panel(
    "Customer lifetime value",
    (tables.CUSTOMER_LIFETIME_VALUE,),
    f"""
    select lifetime_value_usd, historical_revenue_usd, projected_revenue_usd, orders
    from {_t(tables.CUSTOMER_LIFETIME_VALUE)}
    order by lifetime_value_usd desc, customer_id
    limit {CLV_MAX_CUSTOMERS}
    """,
)

AOV_BY_DISCOUNT = Panel(
    "Average order value by discount band",
    (tables.AOV_BY_DISCOUNT_BAND,),
    f"""
    select discount_band, orders, revenue_usd, avg_order_value_usd
    from {_t(tables.AOV_BY_DISCOUNT_BAND)}
    order by discount_band
    """,
)

PIPELINE_HEALTH = Panel(
    "Pipeline health",
    (tables.PIPELINE_HEALTH,),
    f"""
    select query_name, family, batches, input_rows, late_events, duplicate_events,
           quarantined_rows, latency_p50_ms, latency_p95_ms, last_batch_at, last_loaded_at
    from {_t(tables.PIPELINE_HEALTH)}
    order by query_name
    """,
)

ALL_PANELS: tuple[Panel, ...] = (
    TODAY_KPIS,
    DAILY_TREND,
    RECENT_PRODUCT_SALES,
    LIVE_FRESHNESS,
    STORE_DAILY,
    STORE_HOURLY,
    LOW_STOCK,
    FUNNEL_TOTALS,
    FUNNEL_BY_CATEGORY,
    CUSTOMER_LIFETIME_VALUE,
    AOV_BY_DISCOUNT,
    PIPELINE_HEALTH,
)


def run(conn: Connection, sql: str, params: Sequence[Any] | None = None) -> pd.DataFrame:
    """Run one query; columns come back lowercase and NUMBERs as ints or floats (the
    connector returns Decimal), so charts and formatting need no per-driver care."""
    cur = conn.cursor()
    try:
        cur.execute(sql, params)
        rows = cur.fetchall()
        description = list(cur.description or ())
    finally:
        cur.close()
    names = [str(col[0]).lower() for col in description]
    # scale is the sixth field of a DB-API column description; 0 means a whole number
    scales = {
        name: (col[5] if len(col) > 5 else None)
        for name, col in zip(names, description, strict=True)
    }
    return decimals_to_numbers(pd.DataFrame.from_records(rows, columns=names), scales)


def decimals_to_numbers(frame: pd.DataFrame, scales: dict[str, int | None]) -> pd.DataFrame:
    """Decimal columns as Int64 when their scale is 0, else float64."""
    for name in frame.columns:
        values = frame[name].dropna()
        if len(values) and all(isinstance(v, Decimal) for v in values):
            as_float = frame[name].astype("float64")
            frame[name] = as_float.astype("Int64") if scales.get(name) == 0 else as_float
    return frame


def existing_marts(conn: Connection, schema: str) -> set[str]:
    """Names (lowercase) of the marts present in the analytics schema."""
    frame = run(
        conn,
        "select table_name from information_schema.tables where upper(table_schema) = %s",
        (schema.upper(),),
    )
    return {str(name).lower() for name in frame["table_name"]} if len(frame) else set()


def missing_marts(present: Iterable[str], needed: Iterable[MartSpec]) -> list[str]:
    have = {name.lower() for name in present}
    return [spec.name for spec in needed if spec.name not in have]


def load_panel(conn: Connection, panel: Panel) -> pd.DataFrame:
    return run(conn, panel.sql)


# --- shaping: pure DataFrame -> DataFrame helpers the charts read -------------------


@dataclass(frozen=True)
class Kpis:
    """Today's headline numbers and the day before's, for the deltas."""

    kpi_date: Any
    orders: int
    revenue_usd: float
    avg_order_value_usd: float
    units: int
    previous: Kpis | None = None


def today_kpis(frame: pd.DataFrame) -> Kpis | None:
    """The newest kpi_date's row (the query returns the newest two, newest first)."""
    if frame.empty:
        return None
    rows = [
        Kpis(
            kpi_date=row["kpi_date"],
            orders=int(row["orders"]),
            revenue_usd=float(row["revenue_usd"]),
            avg_order_value_usd=float(row["avg_order_value_usd"]),
            units=int(row["units"]),
        )
        for _, row in frame.sort_values("kpi_date", ascending=False).head(2).iterrows()
    ]
    if len(rows) == 2:
        return Kpis(**{**rows[0].__dict__, "previous": rows[1]})
    return rows[0]


def top_products_with_other(frame: pd.DataFrame, top: int = TOP_PRODUCTS) -> pd.DataFrame:
    """Per minute and product: the `top` products by revenue over the frame keep their
    names, the rest are summed as 'Other products' so the stacked chart stays readable."""
    if frame.empty:
        return frame.assign(product=pd.Series(dtype="object"))
    revenue = frame.groupby("product_name")["revenue_usd"].sum().sort_values(ascending=False)
    keep = set(revenue.head(top).index)
    labelled = frame.assign(
        product=frame["product_name"].where(frame["product_name"].isin(keep), "Other products")
    )
    return (
        labelled.groupby(["window_start", "product"], as_index=False)[
            ["orders", "units", "revenue_usd"]
        ]
        .sum()
        .sort_values(["window_start", "product"], ignore_index=True)
    )


def funnel_steps(totals: pd.DataFrame) -> pd.DataFrame:
    """The latest day's funnel as rows (step, sessions, share of the viewing sessions)."""
    if totals.empty or pd.isna(totals.loc[0, "sessions_viewed"]):
        return pd.DataFrame(columns=["step", "sessions", "share_of_views"])
    views = float(totals.loc[0, "sessions_viewed"])
    steps = [
        ("Viewed", "sessions_viewed"),
        ("Added to cart", "sessions_carted"),
        ("Purchased", "sessions_purchased"),
    ]
    return pd.DataFrame(
        {
            "step": [label for label, _ in steps],
            "sessions": [int(totals.loc[0, column]) for _, column in steps],
            "share_of_views": [
                (float(totals.loc[0, column]) / views) if views else 0.0 for _, column in steps
            ],
        }
    )


@dataclass(frozen=True)
class LiveAge:
    """How old the newest minute of the live panel is, by the warehouse's clock."""

    newest_window_end: Any
    window_age_s: float | None  # how long ago the newest minute's window ended
    landed_age_s: float | None  # how long ago the loader landed its latest version

    def describe(self) -> str:
        if self.window_age_s is None:
            return "no minute landed yet"
        text = f"newest minute ended {_age(self.window_age_s)} ago"
        if self.landed_age_s is not None:
            text += f", landed {_age(self.landed_age_s)} ago"
        return text


def live_age(frame: pd.DataFrame) -> LiveAge:
    """LIVE_FRESHNESS's one row as ages in seconds."""
    if frame.empty or pd.isna(frame.loc[0, "newest_window_end"]):
        return LiveAge(None, None, None)
    read_at = pd.Timestamp(frame.loc[0, "read_at"])
    newest = pd.Timestamp(frame.loc[0, "newest_window_end"])
    landed = frame.loc[0, "newest_loaded_at"]
    return LiveAge(
        newest,
        max(0.0, (read_at - newest).total_seconds()),
        None if pd.isna(landed) else max(0.0, (read_at - pd.Timestamp(landed)).total_seconds()),
    )


def _age(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 172800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


def discount_bands_in_order(frame: pd.DataFrame) -> pd.DataFrame:
    """Bands sorted by the first number in their label ("0%", "1-5%", "6-10%", "11-15%"),
    since a text sort would put "11-15%" before "6-10%"; labels without a number last."""
    first_number = frame["discount_band"].astype(str).str.extract(r"(\d+(?:\.\d+)?)")[0]
    return (
        frame.assign(_order=pd.to_numeric(first_number, errors="coerce"))
        .sort_values(["_order", "discount_band"], na_position="last", kind="stable")
        .drop(columns="_order")
        .reset_index(drop=True)
    )


def clv_summary(frame: pd.DataFrame) -> dict[str, float]:
    """Customers, median and 90th percentile of customer lifetime value (historical
    revenue plus the projection), and the median historical revenue."""
    if not len(frame):
        return {"customers": 0.0, "median_usd": 0.0, "p90_usd": 0.0, "median_historical_usd": 0.0}
    value = frame["lifetime_value_usd"].astype("float64")
    return {
        "customers": float(len(value)),
        "median_usd": float(value.median()),
        "p90_usd": float(value.quantile(0.9)),
        "median_historical_usd": float(frame["historical_revenue_usd"].astype("float64").median()),
    }


def health_summary(frame: pd.DataFrame) -> dict[str, Any]:
    """Pipeline-wide figures: worst p95 latency, newest batch and load, late and
    quarantined events summed over the streaming queries."""
    if frame.empty:
        return {
            "latency_p95_ms": None,
            "last_batch_at": None,
            "last_loaded_at": None,
            "late_events": 0,
            "quarantined_rows": 0,
        }
    return {
        "latency_p95_ms": _max_or_none(frame["latency_p95_ms"]),
        "last_batch_at": _max_or_none(frame["last_batch_at"]),
        "last_loaded_at": _max_or_none(frame["last_loaded_at"]),
        "late_events": int(frame["late_events"].fillna(0).sum()),
        "quarantined_rows": int(frame["quarantined_rows"].fillna(0).sum()),
    }


def _max_or_none(column: pd.Series) -> Any:
    values = column.dropna()
    return values.max() if len(values) else None


def problem_events(health: pd.DataFrame) -> pd.DataFrame:
    """Late, duplicate and quarantined events per streaming query, long form for a chart."""
    kinds = {
        "late_events": "Late",
        "duplicate_events": "Duplicate",
        "quarantined_rows": "Quarantined",
    }
    long = health.melt(
        id_vars=["query_name"], value_vars=list(kinds), var_name="kind", value_name="events"
    )
    long["kind"] = long["kind"].map(kinds)
    long["events"] = long["events"].fillna(0).astype("int64")
    return long.sort_values(["query_name", "kind"], ignore_index=True)
