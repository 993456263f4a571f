"""The dbt marts as literal rows in a warehouse, typed the way dbt-snowflake builds them,
for the dashboard's tests (no demo run needed)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from retail_lakehouse import tables, warehouse
from retail_lakehouse.settings import Settings

MONEY = "NUMBER(12,2)"
INT = "NUMBER(38,0)"
RATE = "FLOAT"
TS = "TIMESTAMP_NTZ"

# column -> type per mart; checked against tables.ALL_MARTS below
TYPES: dict[str, dict[str, str]] = {
    "fct_daily_kpis": {
        "kpi_date": "DATE",
        "orders": INT,
        "units": INT,
        "revenue_usd": MONEY,
        "avg_order_value_usd": MONEY,
        "distinct_customers": INT,
        "streaming_latency_ms": RATE,
    },
    "fct_product_sales_daily": {
        "sales_date": "DATE",
        "product_id": "VARCHAR",
        "product_name": "VARCHAR",
        "category_code": "VARCHAR",
        "brand": "VARCHAR",
        "orders": INT,
        "units": INT,
        "revenue_usd": MONEY,
    },
    "fct_product_sales_hourly": {
        "sales_hour": TS,
        "product_id": "VARCHAR",
        "product_name": "VARCHAR",
        "category_code": "VARCHAR",
        "brand": "VARCHAR",
        "orders": INT,
        "units": INT,
        "revenue_usd": MONEY,
    },
    "fct_product_sales_minute": {
        "window_start": TS,
        "window_end": TS,
        "product_id": "VARCHAR",
        "product_name": "VARCHAR",
        "orders": INT,
        "units": INT,
        "revenue_usd": MONEY,
        "loaded_at": TS,
    },
    "fct_store_sales_daily": {
        "sales_date": "DATE",
        "store_id": "VARCHAR",
        "store_name": "VARCHAR",
        "channel": "VARCHAR",
        "orders": INT,
        "units": INT,
        "revenue_usd": MONEY,
        "avg_order_value_usd": MONEY,
    },
    "fct_store_sales_hourly": {
        "sales_hour": TS,
        "store_id": "VARCHAR",
        "store_name": "VARCHAR",
        "channel": "VARCHAR",
        "orders": INT,
        "units": INT,
        "revenue_usd": MONEY,
        "avg_order_value_usd": MONEY,
    },
    "fct_inventory_health": {
        "store_id": "VARCHAR",
        "store_name": "VARCHAR",
        "product_id": "VARCHAR",
        "product_name": "VARCHAR",
        "on_hand": INT,
        "safety_stock": INT,
        "is_below_safety_stock": "BOOLEAN",
        "units_sold_last_7d": INT,
        "demand_window_hours": RATE,
        "avg_daily_units_last_7d": RATE,
        "days_of_supply": RATE,
        "projected_sell_through_date": "DATE",
        "low_stock_rank": INT,
    },
    "fct_customer_lifetime_value": {
        "customer_id": "VARCHAR",
        "orders": INT,
        "units": INT,
        "historical_revenue_usd": MONEY,
        "first_purchase_at": TS,
        "last_purchase_at": TS,
        "avg_order_value_usd": MONEY,
        "purchases_per_year": RATE,
        "projected_revenue_usd": MONEY,
        "lifetime_value_usd": MONEY,
    },
    "fct_aov_by_discount_band": {
        "discount_band": "VARCHAR",
        "orders": INT,
        "revenue_usd": MONEY,
        "avg_order_value_usd": MONEY,
    },
    "fct_funnel_by_product": {
        "funnel_date": "DATE",
        "product_id": "VARCHAR",
        "product_name": "VARCHAR",
        "category_code": "VARCHAR",
        "sessions": INT,
        "sessions_viewed": INT,
        "sessions_carted": INT,
        "sessions_purchased": INT,
        "sessions_abandoned_cart": INT,
        "view_to_cart_rate": RATE,
        "cart_to_purchase_rate": RATE,
        "conversion_rate": RATE,
        "cart_abandonment_rate": RATE,
    },
    "fct_funnel_by_category": {
        "funnel_date": "DATE",
        "category_code": "VARCHAR",
        "sessions": INT,
        "sessions_viewed": INT,
        "sessions_carted": INT,
        "sessions_purchased": INT,
        "sessions_abandoned_cart": INT,
        "view_to_cart_rate": RATE,
        "cart_to_purchase_rate": RATE,
        "conversion_rate": RATE,
        "cart_abandonment_rate": RATE,
    },
    "fct_pipeline_health": {
        "query_name": "VARCHAR",
        "family": "VARCHAR",
        "batches": INT,
        "input_rows": INT,
        "late_events": INT,
        "duplicate_events": INT,
        "quarantined_rows": INT,
        "latency_p50_ms": RATE,
        "latency_p95_ms": RATE,
        "last_batch_at": TS,
        "last_loaded_at": TS,
    },
}
assert {spec.name: spec.columns for spec in tables.ALL_MARTS} == {
    name: tuple(columns) for name, columns in TYPES.items()
}, "TYPES must list exactly the columns of tables.ALL_MARTS"

TODAY = date(2026, 11, 21)
NOW = datetime(2026, 11, 21, 14, 37)

DAILY_KPIS = [
    # kpi_date, orders, units, revenue_usd, avg_order_value_usd, distinct_customers, latency
    (date(2026, 11, 15), 1184, 2915, "98231.40", "82.97", 903, 1420.0),
    (date(2026, 11, 16), 1262, 3088, "104112.75", "82.50", 951, 1385.5),
    (date(2026, 11, 17), 1105, 2731, "90877.10", "82.24", 866, 1512.0),
    (date(2026, 11, 18), 1320, 3301, "111904.35", "84.78", 1012, 1298.0),
    (date(2026, 11, 19), 1407, 3490, "119006.80", "84.58", 1077, 1276.5),
    (date(2026, 11, 20), 1533, 3811, "131450.05", "85.75", 1160, 1244.0),
    (TODAY, 1258, 3127, "108874.62", "86.55", 987, 1203.5),
]

PRODUCTS = [
    ("P001", "Trail running shoes", "apparel.shoes", "Northpeak", "89.90"),
    ("P002", "Espresso machine", "appliances.kitchen", "Barista+", "249.00"),
    ("P003", "Noise-cancelling headphones", "electronics.audio", "Sonora", "179.00"),
    ("P004", "Yoga mat", "sports.fitness", "Flowfit", "29.90"),
    ("P005", "Smartwatch", "electronics.wearables", "Pulse", "199.00"),
    ("P006", "Cotton T-shirt", "apparel.tops", "Basics", "14.90"),
    ("P007", "Desk lamp", "home.lighting", "Lumen", "39.90"),
    ("P008", "Water bottle", "sports.outdoor", "Hydra", "19.90"),
    ("P009", "Backpack 30L", "sports.outdoor", "Northpeak", "69.90"),
    ("P010", "Coffee beans 1kg", "grocery.coffee", "Roastery", "24.90"),
]
STORES = [
    ("S01", "Downtown Flagship", "pos"),
    ("S02", "Airport Kiosk", "pos"),
    ("S03", "Riverside Mall", "pos"),
    ("S04", "Web Store", "ecommerce"),
]


def _product_minutes() -> list[tuple[Any, ...]]:
    rows = []
    for minute in range(20):
        start = NOW - timedelta(minutes=19 - minute)
        for index, (pid, name, _cat, _brand, price) in enumerate(PRODUCTS):
            units = (minute * 7 + index * 3) % 5 + (3 if index < 3 else 1)
            orders = max(1, units - 1)
            revenue = f"{units * float(price):.2f}"
            landed = start + timedelta(minutes=1, seconds=12)
            rows.append(
                (start, start + timedelta(minutes=1), pid, name, orders, units, revenue, landed)
            )
    return rows


def _product_daily() -> list[tuple[Any, ...]]:
    return [
        (day, pid, name, cat, brand, 40 + i * 3, 60 + i * 4, f"{(60 + i * 4) * float(p):.2f}")
        for day, *_ in DAILY_KPIS
        for i, (pid, name, cat, brand, p) in enumerate(PRODUCTS)
    ]


def _product_hourly() -> list[tuple[Any, ...]]:
    base = datetime(TODAY.year, TODAY.month, TODAY.day)
    return [
        (
            base + timedelta(hours=h),
            pid,
            name,
            cat,
            brand,
            3 + i,
            4 + i,
            f"{(4 + i) * float(p):.2f}",
        )
        for h in range(15)
        for i, (pid, name, cat, brand, p) in enumerate(PRODUCTS)
    ]


def _store_daily() -> list[tuple[Any, ...]]:
    shares = [0.34, 0.12, 0.22, 0.32]
    rows = []
    for day, orders, units, revenue, *_ in DAILY_KPIS:
        for (sid, name, channel), share in zip(STORES, shares, strict=True):
            o, u, r = round(orders * share), round(units * share), float(revenue) * share
            rows.append((day, sid, name, channel, o, u, f"{r:.2f}", f"{r / o:.2f}"))
    return rows


def _store_hourly() -> list[tuple[Any, ...]]:
    base = datetime(TODAY.year, TODAY.month, TODAY.day)
    rows = []
    for hour in range(15):
        # a lunchtime and an evening peak, and a web store that never sleeps
        curve = 1 + (3 if 11 <= hour <= 13 else 0) + (2 if hour >= 12 else 0)
        for index, (sid, name, channel) in enumerate(STORES):
            busy = curve if channel == "pos" and hour >= 8 else (2 if channel != "pos" else 0)
            orders = busy * (4 - index % 3) + 1
            revenue = orders * (80 + index * 5)
            rows.append(
                (
                    base + timedelta(hours=hour),
                    sid,
                    name,
                    channel,
                    orders,
                    orders * 2,
                    f"{revenue:.2f}",
                    f"{revenue / orders:.2f}",
                )
            )
    return rows


def _inventory() -> list[tuple[Any, ...]]:
    rows = []
    for s_index, (sid, sname, _channel) in enumerate(STORES):
        for p_index, (pid, pname, *_rest) in enumerate(PRODUCTS):
            on_hand = (s_index * 17 + p_index * 29) % 140 + 2
            safety = 20
            sold_7d = 14 + (p_index * 11 + s_index * 5) % 60
            per_day = sold_7d / 7
            days = on_hand / per_day
            rows.append(
                [
                    sid,
                    sname,
                    pid,
                    pname,
                    on_hand,
                    safety,
                    on_hand < safety,
                    sold_7d,
                    168.0,
                    round(per_day, 3),
                    round(days, 2),
                    TODAY + timedelta(days=int(days)),
                    0,
                ]
            )
    rows.sort(key=lambda row: (row[4], row[0], row[2]))
    for rank, row in enumerate(rows, start=1):
        row[-1] = rank
    return [tuple(row) for row in rows]


def _customers() -> list[tuple[Any, ...]]:
    rows = []
    for n in range(300):
        orders = 1 + (n * 7) % 9
        basket = 35 + (n * 13) % 120
        revenue = orders * basket
        first = NOW - timedelta(days=(n * 3) % 60 + 1)
        per_year = orders * 365 / 60
        projected = basket * per_year * 2
        rows.append(
            (
                f"C{n:05d}",
                orders,
                orders * 2,
                f"{revenue:.2f}",
                first,
                NOW,
                f"{basket:.2f}",
                round(per_year, 2),
                f"{projected:.2f}",
                f"{revenue + projected:.2f}",
            )
        )
    return rows


AOV_BANDS = [
    ("0% (no discount)", 5120, "409600.00", "80.00"),
    ("1-10%", 1490, "131120.00", "88.00"),
    ("11-20%", 960, "89280.00", "93.00"),
    ("21-30%", 420, "41160.00", "98.00"),
    ("over 30%", 150, "15750.00", "105.00"),
]


def _funnel_rows(viewed: int, carted: int, bought: int) -> tuple[Any, ...]:
    """Session counts and rates, every carting session having viewed first."""
    return (
        viewed + 3,
        viewed,
        carted,
        bought,
        carted - bought,
        carted / viewed,
        bought / carted,
        bought / viewed,
        (carted - bought) / carted,
    )


def _funnel_by_product() -> list[tuple[Any, ...]]:
    return [
        (day, pid, name, cat, *_funnel_rows(2000 + i * 150 + d, 400 + i * 20, 150 + i * 9))
        for d, (day, *_k) in enumerate(DAILY_KPIS[-2:])
        for i, (pid, name, cat, *_r) in enumerate(PRODUCTS)
    ]


def _funnel_by_category() -> list[tuple[Any, ...]]:
    by_cat: dict[tuple[Any, str], list[int]] = {}
    for row in _funnel_by_product():
        totals = by_cat.setdefault((row[0], row[3]), [0, 0, 0])
        for k in range(3):
            totals[k] += row[5 + k]
    return [(day, cat, *_funnel_rows(*totals)) for (day, cat), totals in sorted(by_cat.items())]


PIPELINE_HEALTH = [
    ("bronze_sales", "sales", 412, 9120, 0, 0, 0, 640.0, 910.0, NOW, NOW + timedelta(minutes=2)),
    ("silver_sales", "sales", 412, 9120, 37, 12, 8, 820.0, 1203.5, NOW, NOW + timedelta(minutes=2)),
    (
        "silver_clickstream",
        "clickstream",
        409,
        51840,
        112,
        30,
        21,
        760.0,
        1150.0,
        NOW,
        NOW + timedelta(minutes=2),
    ),
    (
        "silver_inventory",
        "inventory",
        401,
        2210,
        4,
        1,
        3,
        700.0,
        1010.0,
        NOW,
        NOW + timedelta(minutes=2),
    ),
    (
        "gold_sales_by_product_minute",
        "sales",
        412,
        9120,
        0,
        0,
        0,
        980.0,
        1480.0,
        NOW,
        NOW + timedelta(minutes=2),
    ),
]

ROWS: dict[str, list[tuple[Any, ...]]] = {
    "fct_daily_kpis": DAILY_KPIS,
    "fct_product_sales_daily": _product_daily(),
    "fct_product_sales_hourly": _product_hourly(),
    "fct_product_sales_minute": _product_minutes(),
    "fct_store_sales_daily": _store_daily(),
    "fct_store_sales_hourly": _store_hourly(),
    "fct_inventory_health": _inventory(),
    "fct_customer_lifetime_value": _customers(),
    "fct_aov_by_discount_band": AOV_BANDS,
    "fct_funnel_by_product": _funnel_by_product(),
    "fct_funnel_by_category": _funnel_by_category(),
    "fct_pipeline_health": PIPELINE_HEALTH,
}


def build_marts(settings: Settings, *, only: tuple[str, ...] | None = None) -> None:
    """Create the marts (all, or `only` these) in SNOWFLAKE_ANALYTICS_SCHEMA with the
    rows above, then close the connection so another process can open the warehouse."""
    schema = settings.snowflake_analytics_schema
    with warehouse.connect(settings, schema=schema) as conn:
        cur = conn.cursor()
        cur.execute(f"create schema if not exists {settings.snowflake_database}.{schema}")
        cur.execute(f"use schema {settings.snowflake_database}.{schema}")
        for name, columns in TYPES.items():
            if only is not None and name not in only:
                continue
            ddl = ", ".join(f"{column} {kind}" for column, kind in columns.items())
            cur.execute(f"create or replace table {name.upper()} ({ddl})")
            # one multi-row INSERT per mart: the emulator translates each statement, so
            # row-by-row executemany takes tens of seconds
            row = "(" + ", ".join(["%s"] * len(columns)) + ")"
            values = ", ".join([row] * len(ROWS[name]))
            flat = [value for record in ROWS[name] for value in record]
            cur.execute(f"insert into {name.upper()} values {values}", flat)
        cur.close()
