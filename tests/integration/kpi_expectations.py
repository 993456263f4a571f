"""The independent computation the dbt tests compare the marts with: pandas over the
landed (or lake) rows, none of the models' SQL. Money is exact (Decimal, rounded half-up
like the marts), business dates come from zoneinfo, percentiles from numpy.

`landed` maps a warehouse table name (e.g. SILVER_SALES_LINES) to its rows with the
Delta table's columns in UPPERCASE; timestamps are naive UTC, as TIMESTAMP_NTZ holds them.
"""

from __future__ import annotations

import json
from decimal import ROUND_HALF_UP, Decimal

import numpy as np
import pandas as pd

from retail_lakehouse import tables, warehouse
from retail_lakehouse.settings import DEFAULT_WEB_STORE_TIME_ZONE, Settings

CENT = Decimal("0.01")
# how far apart two independently rounded figures may be (a tie rounds either way)
TOLERANCE = {"_rate": 1e-4, "_ms": 0.1, "_per_year": 0.01, "_hours": 0.01, "_7d": 0.01}
WEB_ZONE = DEFAULT_WEB_STORE_TIME_ZONE
DEMAND_WINDOW_S = 7 * 86400
CLV_REMAINING_YEARS = 2
CLV_MIN_OBSERVED_MINUTES = 30 * 1440
MINUTES_PER_YEAR = 525600


def read_mart(settings: Settings, name: str) -> pd.DataFrame:
    with warehouse.connect(settings, schema=settings.snowflake_analytics_schema) as conn:
        cursor = conn.cursor()
        cursor.execute(f"select * from {name}")
        frame = cursor.fetch_pandas_all()
    return frame.rename(columns=str.lower)


def _t(landed: dict[str, pd.DataFrame], spec) -> pd.DataFrame:
    return landed[spec.warehouse_name].copy()


def local_time(moments: pd.Series, zones: pd.Series | str) -> pd.Series:
    """Naive UTC instants as naive wall-clock times in each row's zone."""
    zones = pd.Series(zones, index=moments.index) if isinstance(zones, str) else zones
    out = pd.Series(pd.NaT, index=moments.index, dtype="datetime64[ns]")
    for zone, rows in moments.groupby(zones):
        out.loc[rows.index] = (
            pd.to_datetime(rows).dt.tz_localize("UTC").dt.tz_convert(zone).dt.tz_localize(None)
        )
    return out


def _half_up(value: Decimal, quantum: Decimal = CENT) -> Decimal:
    return value.quantize(quantum, rounding=ROUND_HALF_UP)


def _money(frame: pd.DataFrame, *columns: str) -> pd.DataFrame:
    frame = frame.copy()
    for column in columns:
        frame[column] = [Decimal(str(v)) for v in frame[column]]
    return frame


def _total(values) -> Decimal:
    return sum(values, Decimal(0))


def localized_sales_lines(landed: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Silver sales lines with the store's zone, local time, business date and hour."""
    lines = _money(_t(landed, tables.SILVER_SALES_LINES), "UNIT_PRICE", "DISCOUNT", "LINE_REVENUE")
    stores = _t(landed, tables.STORES)[["STORE_ID", "TIME_ZONE"]]
    lines = lines.merge(stores, on="STORE_ID", how="left")
    lines["TIME_ZONE"] = lines["TIME_ZONE"].fillna(WEB_ZONE)
    lines["LOCAL"] = local_time(lines["EVENT_TIME"], lines["TIME_ZONE"])
    lines["SALES_DATE"] = lines["LOCAL"].dt.date
    lines["SALES_HOUR"] = lines["LOCAL"].dt.floor("h")
    lines["GROSS"] = [q * p for q, p in zip(lines["QUANTITY"], lines["UNIT_PRICE"], strict=True)]
    return lines


def orders_of(landed: dict[str, pd.DataFrame]) -> pd.DataFrame:
    lines = localized_sales_lines(landed).sort_values("EVENT_TIME")
    return lines.groupby("TRANSACTION_ID").agg(
        store_id=("STORE_ID", "max"),
        channel=("CHANNEL", "max"),
        customer_id=("CUSTOMER_ID", "max"),
        sold_at=("EVENT_TIME", "min"),
        sales_date=("SALES_DATE", "min"),
        sales_hour=("SALES_HOUR", "min"),
        units=("QUANTITY", "sum"),
        gross_usd=("GROSS", _total),
        discount_usd=("DISCOUNT", _total),
        revenue_usd=("LINE_REVENUE", _total),
    )


def _samples(landed: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """One row per latency sample of every batch, with its batch's business date: the
    web store's local date of the batch's newest event (its commit time without one)."""
    batches = _t(landed, tables.STREAM_BATCHES)
    newest = batches["MAX_EVENT_TIME"].fillna(batches["COMMITTED_AT"])
    rows = [
        {"query_name": q, "family": f, "newest_at": at, "latency_ms": float(ms)}
        for q, f, at, text in zip(
            batches["QUERY_NAME"],
            batches["FAMILY"],
            newest,
            batches["LATENCY_SAMPLE_MS"],
            strict=True,
        )
        for ms in json.loads(text or "[]")
    ]
    samples = pd.DataFrame(rows, columns=["query_name", "family", "newest_at", "latency_ms"])
    samples["batch_date"] = local_time(samples["newest_at"], WEB_ZONE).dt.date
    return samples


def _percentile(values: pd.Series, q: float) -> float:
    """What percentile_cont computes: linear interpolation between the closest ranks."""
    return float(np.percentile(values.to_numpy(dtype=float), q * 100, method="linear"))


def expected_daily_kpis(landed: dict[str, pd.DataFrame]) -> pd.DataFrame:
    orders = orders_of(landed)
    daily = orders.groupby("sales_date").agg(
        orders=("units", "size"),
        units=("units", "sum"),
        revenue_usd=("revenue_usd", _total),
        distinct_customers=("customer_id", "nunique"),
    )
    daily["avg_order_value_usd"] = [
        _half_up(r / o) for r, o in zip(daily["revenue_usd"], daily["orders"], strict=True)
    ]
    samples = _samples(landed)
    sales = samples[samples["family"] == "sales"]
    p95 = sales.groupby("batch_date")["latency_ms"].agg(lambda s: round(_percentile(s, 0.95), 1))
    daily["streaming_latency_ms"] = p95.reindex(daily.index)
    daily.index.name = "kpi_date"
    return normalized(daily.reset_index(), tables.DAILY_KPIS.columns)


def _product_sales(landed: dict[str, pd.DataFrame], grain: str) -> pd.DataFrame:
    lines = localized_sales_lines(landed)
    column = {"SALES_DATE": "sales_date", "SALES_HOUR": "sales_hour"}[grain]
    sums = (
        lines.groupby([grain, "PRODUCT_ID"])
        .agg(
            orders=("TRANSACTION_ID", "nunique"),
            units=("QUANTITY", "sum"),
            revenue_usd=("LINE_REVENUE", _total),
        )
        .reset_index()
        .rename(columns={grain: column, "PRODUCT_ID": "product_id"})
    )
    products = _t(landed, tables.PRODUCTS).rename(columns=str.lower)
    named = sums.merge(
        products[["product_id", "product_name", "category_code", "brand"]],
        on="product_id",
        how="left",
    )
    return named[[column if c == "sales_date" else c for c in tables.PRODUCT_SALES_DAILY.columns]]


def expected_product_sales_daily(landed: dict[str, pd.DataFrame]) -> pd.DataFrame:
    return _product_sales(landed, "SALES_DATE")


def expected_product_sales_hourly(landed: dict[str, pd.DataFrame]) -> pd.DataFrame:
    return _product_sales(landed, "SALES_HOUR")


def _store_sales(landed: dict[str, pd.DataFrame], grain: str) -> pd.DataFrame:
    orders = orders_of(landed)
    sums = (
        orders.groupby([grain, "store_id", "channel"])
        .agg(orders=("units", "size"), units=("units", "sum"), revenue_usd=("revenue_usd", _total))
        .reset_index()
    )
    sums["avg_order_value_usd"] = [
        _half_up(r / o) for r, o in zip(sums["revenue_usd"], sums["orders"], strict=True)
    ]
    stores = _t(landed, tables.STORES).rename(columns=str.lower)[["store_id", "store_name"]]
    return sums.merge(stores, on="store_id", how="left")


def expected_store_sales_daily(landed: dict[str, pd.DataFrame]) -> pd.DataFrame:
    return _store_sales(landed, "sales_date")[list(tables.STORE_SALES_DAILY.columns)]


def expected_store_sales_hourly(landed: dict[str, pd.DataFrame]) -> pd.DataFrame:
    return _store_sales(landed, "sales_hour")[list(tables.STORE_SALES_HOURLY.columns)]


def expected_product_sales_minute(landed: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """The one-minute windows of on-time sales, from silver (what gold holds)."""
    lines = _money(_t(landed, tables.SILVER_SALES_LINES), "LINE_REVENUE")
    on_time = lines[~lines["IS_LATE"].astype(bool)].copy()
    on_time["window_start"] = on_time["EVENT_TIME"].dt.floor("min")
    sums = (
        on_time.groupby(["window_start", "PRODUCT_ID"])
        .agg(
            orders=("TRANSACTION_ID", "nunique"),
            units=("QUANTITY", "sum"),
            revenue_usd=("LINE_REVENUE", _total),
        )
        .reset_index()
        .rename(columns={"PRODUCT_ID": "product_id"})
    )
    sums["window_end"] = sums["window_start"] + pd.Timedelta(minutes=1)
    products = _t(landed, tables.PRODUCTS).rename(columns=str.lower)
    named = sums.merge(products[["product_id", "product_name"]], on="product_id", how="left")
    return named[[c for c in tables.PRODUCT_SALES_MINUTE.columns if c != "loaded_at"]]


def expected_inventory_health(landed: dict[str, pd.DataFrame]) -> pd.DataFrame:
    lines = _t(landed, tables.SILVER_SALES_LINES)
    as_of, first = lines["EVENT_TIME"].max(), lines["EVENT_TIME"].min()
    span_s = (as_of.floor("s") - first.floor("s")).total_seconds()
    window_s = int(min(DEMAND_WINDOW_S, max(3600, span_s)))
    recent = lines[lines["EVENT_TIME"] > as_of - pd.Timedelta(days=7)]
    units = recent.groupby(["STORE_ID", "PRODUCT_ID"])["QUANTITY"].sum()
    levels = _t(landed, tables.INVENTORY_LEVELS)
    stores = _t(landed, tables.STORES).set_index("STORE_ID")
    products = _t(landed, tables.PRODUCTS).set_index("PRODUCT_ID")
    rows = []
    for level in levels.itertuples():
        sold = int(units.get((level.STORE_ID, level.PRODUCT_ID), 0))
        on_hand = int(level.ON_HAND)
        days = on_hand * window_s / (sold * 86400) if sold else None
        run_out = None
        if sold:
            instant = as_of + pd.Timedelta(seconds=int(max(on_hand, 0) * window_s // sold))
            zone = (
                stores.loc[level.STORE_ID, "TIME_ZONE"]
                if level.STORE_ID in stores.index
                else WEB_ZONE
            )
            run_out = instant.tz_localize("UTC").tz_convert(zone).date()
        safety = level.SAFETY_STOCK
        rows.append(
            {
                "store_id": level.STORE_ID,
                "store_name": stores["STORE_NAME"].get(level.STORE_ID),
                "product_id": level.PRODUCT_ID,
                "product_name": products["PRODUCT_NAME"].get(level.PRODUCT_ID),
                "on_hand": on_hand,
                "safety_stock": safety
                if pd.notna(safety)
                else products["SAFETY_STOCK"].get(level.PRODUCT_ID),
                "is_below_safety_stock": bool(level.IS_BELOW_SAFETY_STOCK),
                "units_sold_last_7d": sold,
                "demand_window_hours": round(window_s / 3600, 2),
                "avg_daily_units_last_7d": round(sold * 86400 / window_s, 2),
                "days_of_supply": None if days is None else round(days, 1),
                "projected_sell_through_date": run_out,
                "_days": days,
            }
        )
    frame = pd.DataFrame(rows)
    order = frame.assign(_nulls_last=frame["_days"].isna()).sort_values(
        ["on_hand", "_nulls_last", "_days", "store_id", "product_id"]
    )
    frame.loc[order.index, "low_stock_rank"] = range(1, len(frame) + 1)
    frame["low_stock_rank"] = frame["low_stock_rank"].astype("int64")
    return frame[list(tables.INVENTORY_HEALTH.columns)]


def expected_customer_lifetime_value(landed: dict[str, pd.DataFrame]) -> pd.DataFrame:
    orders = orders_of(landed)
    first, last = orders["sold_at"].min(), orders["sold_at"].max()
    observed = max(
        int((last.floor("min") - first.floor("min")).total_seconds() // 60),
        CLV_MIN_OBSERVED_MINUTES,
    )
    known = orders[orders["customer_id"].notna()]
    customers = known.groupby("customer_id").agg(
        orders=("units", "size"),
        units=("units", "sum"),
        historical_revenue_usd=("revenue_usd", _total),
        first_purchase_at=("sold_at", "min"),
        last_purchase_at=("sold_at", "max"),
    )
    aov, projected, per_year = [], [], []
    for revenue, count in zip(
        customers["historical_revenue_usd"], customers["orders"], strict=True
    ):
        aov.append(_half_up(revenue / count))
        numerator = int(revenue * 100) * MINUTES_PER_YEAR * CLV_REMAINING_YEARS
        projected.append(Decimal((2 * numerator + observed) // (2 * observed)) / 100)
        per_year.append(round(count * MINUTES_PER_YEAR / observed, 2))
    customers["avg_order_value_usd"] = aov
    customers["purchases_per_year"] = per_year
    customers["projected_revenue_usd"] = projected
    customers["lifetime_value_usd"] = [
        h + p for h, p in zip(customers["historical_revenue_usd"], projected, strict=True)
    ]
    frame = customers.reset_index()
    frame["customer_id"] = frame["customer_id"].astype("int64")
    return frame[list(tables.CUSTOMER_LIFETIME_VALUE.columns)]


def expected_aov_by_band(landed: dict[str, pd.DataFrame]) -> pd.DataFrame:
    orders = orders_of(landed)
    orders["discount_band"] = [
        _band(d, g) for d, g in zip(orders["discount_usd"], orders["gross_usd"], strict=True)
    ]
    bands = orders.groupby("discount_band").agg(
        orders=("units", "size"),
        units=("units", "sum"),
        gross_usd=("gross_usd", _total),
        discount_usd=("discount_usd", _total),
        revenue_usd=("revenue_usd", _total),
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


def session_products(landed: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """One row per session and product with its step flags and the session's date."""
    clicks = _t(landed, tables.SILVER_CLICKSTREAM)
    clicks = clicks[clicks["USER_SESSION"].notna()]
    started = clicks.groupby("USER_SESSION")["EVENT_TIME"].min()
    flags = (
        pd.crosstab([clicks["USER_SESSION"], clicks["PRODUCT_ID"]], clicks["EVENT_TYPE"])
        .reindex(columns=["view", "cart", "purchase"], fill_value=0)
        .gt(0)
        .reset_index()
    )
    flags["funnel_date"] = local_time(flags["USER_SESSION"].map(started), WEB_ZONE).dt.date
    return flags.rename(columns={"USER_SESSION": "session_id", "PRODUCT_ID": "product_id"})


def _funnel(rows: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    rows = rows.assign(
        vc=rows["view"] & rows["cart"],
        cp=rows["cart"] & rows["purchase"],
        vp=rows["view"] & rows["purchase"],
        abandoned=rows["cart"] & ~rows["purchase"],
    )
    counts = rows.groupby(keys).agg(
        sessions=("session_id", "size"),
        sessions_viewed=("view", "sum"),
        sessions_carted=("cart", "sum"),
        sessions_purchased=("purchase", "sum"),
        sessions_abandoned_cart=("abandoned", "sum"),
        vc=("vc", "sum"),
        cp=("cp", "sum"),
        vp=("vp", "sum"),
    )

    def rate(numerator: pd.Series, denominator: pd.Series) -> pd.Series:
        return (numerator / denominator.where(denominator > 0)).round(4)

    counts["view_to_cart_rate"] = rate(counts["vc"], counts["sessions_viewed"])
    counts["cart_to_purchase_rate"] = rate(counts["cp"], counts["sessions_carted"])
    counts["conversion_rate"] = rate(counts["vp"], counts["sessions_viewed"])
    counts["cart_abandonment_rate"] = rate(
        counts["sessions_abandoned_cart"], counts["sessions_carted"]
    )
    return counts.reset_index()


def _categories(landed: dict[str, pd.DataFrame]) -> pd.DataFrame:
    products = _t(landed, tables.PRODUCTS).rename(columns=str.lower)
    products["category_code"] = products["category_code"].fillna("uncategorized")
    return products[["product_id", "product_name", "category_code"]]


def expected_funnel_by_product(landed: dict[str, pd.DataFrame]) -> pd.DataFrame:
    funnel = _funnel(session_products(landed), ["funnel_date", "product_id"])
    named = funnel.merge(_categories(landed), on="product_id", how="left")
    named["category_code"] = named["category_code"].fillna("uncategorized")
    return named[list(tables.FUNNEL_BY_PRODUCT.columns)]


def expected_funnel_by_category(landed: dict[str, pd.DataFrame]) -> pd.DataFrame:
    rows = session_products(landed).merge(_categories(landed), on="product_id", how="left")
    rows["category_code"] = rows["category_code"].fillna("uncategorized")
    per_session = (
        rows.groupby(["funnel_date", "session_id", "category_code"])[["view", "cart", "purchase"]]
        .any()
        .reset_index()
    )
    funnel = _funnel(per_session, ["funnel_date", "category_code"])
    return funnel[list(tables.FUNNEL_BY_CATEGORY.columns)]


def expected_pipeline_health(landed: dict[str, pd.DataFrame]) -> pd.DataFrame:
    batches = _t(landed, tables.STREAM_BATCHES)
    queries = batches.groupby(["QUERY_NAME", "FAMILY"]).agg(
        batches=("BATCH_ID", "size"),
        input_rows=("INPUT_ROWS", "sum"),
        late_events=("LATE_EVENTS", "sum"),
        duplicate_events=("DUPLICATE_EVENTS", "sum"),
        quarantined_rows=("QUARANTINED_ROWS", "sum"),
        last_batch_at=("COMMITTED_AT", "max"),
    )
    samples = _samples(landed).groupby(["query_name", "family"])["latency_ms"]
    queries["latency_p50_ms"] = samples.agg(lambda s: round(_percentile(s, 0.5), 1))
    queries["latency_p95_ms"] = samples.agg(lambda s: round(_percentile(s, 0.95), 1))
    landed_quarantine = _t(landed, tables.QUARANTINE).groupby("FAMILY").size()
    queries["quarantined_events_landed"] = [
        int(landed_quarantine.get(f, 0)) for _query, f in queries.index
    ]
    state = landed[tables.LOADER_STATE_TABLE]
    loaded = state[(state["TABLE_NAME"] == "ops.stream_batches") & state["DELTA_VERSION"].notna()][
        "LOADED_AT"
    ]
    queries["last_loaded_at"] = loaded.max() if len(loaded) else None
    queries.index.names = ["query_name", "family"]
    return queries.reset_index()[
        [
            *tables.PIPELINE_HEALTH.columns[:7],
            "quarantined_events_landed",
            *tables.PIPELINE_HEALTH.columns[7:],
        ]
    ]


def normalized(frame: pd.DataFrame, columns: tuple[str, ...] | list[str]) -> pd.DataFrame:
    """Comparable values: money as Decimal cents, counts as int, dates as date,
    timestamps as datetime64[us], floats as float64."""
    out = frame[list(columns)].copy()
    for column in out.columns:
        values = out[column]
        if column.endswith("_usd"):
            out[column] = [None if pd.isna(v) else Decimal(str(v)).quantize(CENT) for v in values]
        elif column.endswith(("_date", "kpi_date")):
            out[column] = [None if pd.isna(v) else pd.Timestamp(v).date() for v in values]
        elif column.endswith(("_at", "_hour", "window_start", "window_end")):
            out[column] = pd.to_datetime(values).astype("datetime64[us]")
        elif (
            column.endswith(("_rate", "_ms", "_per_year", "_hours", "_units_last_7d"))
            or column == "days_of_supply"
        ):
            out[column] = pd.to_numeric(values, errors="coerce").astype("float64")
        elif column in (
            "orders", "units", "distinct_customers", "product_id", "store_id", "customer_id",
            "on_hand", "safety_stock", "units_sold_last_7d", "low_stock_rank", "batches",
            "input_rows", "late_events", "duplicate_events", "quarantined_rows",
            "quarantined_events_landed",
        ) or column.startswith("sessions"):  # fmt: skip
            out[column] = values.astype("int64")
        elif column.startswith("is_"):
            out[column] = values.astype(bool)
    return out


def assert_same_table(
    actual: pd.DataFrame, expected: pd.DataFrame, keys: list[str], name: str
) -> None:
    """Same keys, same values; figures rounded on both sides may differ by one step."""
    actual = actual.sort_values(keys).reset_index(drop=True)
    expected = expected.sort_values(keys).reset_index(drop=True)
    assert len(actual) == len(expected), f"{name}: {len(actual)} rows, expected {len(expected)}"
    pd.testing.assert_frame_equal(actual[keys], expected[keys], obj=f"{name} keys")
    for column in expected.columns:
        tolerance = next((t for suffix, t in TOLERANCE.items() if column.endswith(suffix)), None)
        if column == "days_of_supply":
            tolerance = 0.1
        a, b = actual[column], expected[column]
        if tolerance is None:
            pd.testing.assert_series_equal(a, b, check_dtype=False, obj=f"{name}.{column}")
            continue
        both_null = a.isna() & b.isna()
        close = np.isclose(a.astype(float), b.astype(float), rtol=0, atol=tolerance * 1.01)
        bad = ~(both_null | close)
        assert not bad.any(), (
            f"{name}.{column} differs:\n"
            f"{pd.concat([actual[keys], a, b], axis=1, keys=[*keys, 'mart', 'pandas'])[bad]}"
        )
