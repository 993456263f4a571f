"""The table catalog: every Delta table of the lake, its layer, keys and purpose.

Paths are `<LAKE_ROOT>/<layer>/<name>`; the warehouse loaders, the dashboards
and the demo summary all find tables through this module.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Layer = Literal["bronze", "silver", "gold", "reference", "ops"]

# Delta table properties every writer sets when it creates a table the warehouse loads:
# with the change data feed on, a loader reads each commit's changed rows (MERGE updates
# and deletes included) instead of whole rewritten files, and compaction shows up as no
# change at all. delta-rs: DeltaTable.create(..., configuration=spec.delta_properties);
# delta-spark: .option(key, value) per property on the first write.
CHANGE_DATA_FEED_PROPERTIES: dict[str, str] = {"delta.enableChangeDataFeed": "true"}


@dataclass(frozen=True)
class TableSpec:
    layer: Layer
    name: str
    description: str
    keys: tuple[str, ...] = ()
    partition_by: tuple[str, ...] = ()
    family: str | None = None
    # the natural key a warehouse MERGE matches on, for tables the lake only appends to
    warehouse_keys: tuple[str, ...] = ()

    @property
    def qualified_name(self) -> str:
        return f"{self.layer}.{self.name}"

    @property
    def warehouse_name(self) -> str:
        """The landed table's name in SNOWFLAKE_SCHEMA, e.g. SILVER_SALES_LINES."""
        return f"{self.layer}_{self.name}".upper()

    @property
    def natural_keys(self) -> tuple[str, ...]:
        return self.keys or self.warehouse_keys

    @property
    def delta_properties(self) -> dict[str, str]:
        """Properties to create the Delta table with: the change data feed for every
        table the warehouse loads (bronze stays in the lake)."""
        return {} if self.layer == "bronze" else dict(CHANGE_DATA_FEED_PROPERTIES)


def _bronze(family: str, name: str) -> TableSpec:
    return TableSpec(
        "bronze",
        name,
        f"Every {family} record exactly as received from Kafka, with its Kafka metadata "
        "and ingest time. Append-only, never filtered.",
        partition_by=("ingest_date",),
        family=family,
    )


BRONZE_SALES = _bronze("sales", "sales_transactions")
BRONZE_CLICKSTREAM = _bronze("clickstream", "clickstream_events")
BRONZE_INVENTORY = _bronze("inventory", "inventory_events")

SILVER_SALES_LINES = TableSpec(
    "silver",
    "sales_lines",
    "Valid, de-duplicated sales, one row per basket line.",
    partition_by=("event_date",),
    keys=("event_id", "line_number"),
    family="sales",
)
SILVER_CLICKSTREAM = TableSpec(
    "silver",
    "clickstream_events",
    "Valid, de-duplicated clickstream events (view, cart, remove_from_cart, purchase).",
    partition_by=("event_date",),
    keys=("event_id",),
    family="clickstream",
)
SILVER_INVENTORY_CHANGES = TableSpec(
    "silver",
    "inventory_changes",
    "Valid, de-duplicated inventory changes, one row per item; quantity is signed.",
    partition_by=("event_date",),
    keys=("event_id", "product_id"),
    family="inventory",
)
SILVER_INVENTORY_SNAPSHOTS = TableSpec(
    "silver",
    "inventory_snapshots",
    "Valid, de-duplicated stock counts, one row per store and product.",
    partition_by=("event_date",),
    keys=("event_id", "product_id"),
    family="inventory",
)
QUARANTINE = TableSpec(
    "silver",
    "quarantine_events",
    "Records that failed parsing or validation: raw payload, reason code and detail.",
    warehouse_keys=("topic", "partition", "offset"),
)

SALES_BY_PRODUCT_MINUTE = TableSpec(
    "gold",
    "sales_by_product_minute",
    "Orders, units and revenue per product per one-minute event-time window.",
    keys=("window_start", "product_id"),
    family="sales",
)
SALES_BY_STORE_MINUTE = TableSpec(
    "gold",
    "sales_by_store_minute",
    "Orders, units, revenue and average order value per store and channel per minute.",
    keys=("window_start", "store_id", "channel"),
    family="sales",
)
FUNNEL_BY_PRODUCT_MINUTE = TableSpec(
    "gold",
    "funnel_by_product_minute",
    "Views, carts, removes and purchases per product per minute.",
    keys=("window_start", "product_id"),
    family="clickstream",
)
INVENTORY_LEVELS = TableSpec(
    "gold",
    "inventory_levels",
    "Stock on hand per store and product: latest count plus the changes since, "
    "and whether it is below safety stock.",
    keys=("store_id", "product_id"),
    family="inventory",
)

STORES = TableSpec("reference", "stores", "Stores, including the online store.", keys=("store_id",))
PRODUCTS = TableSpec(
    "reference",
    "products",
    "Products with category, brand, list price and safety stock.",
    keys=("product_id",),
)

STREAM_BATCHES = TableSpec(
    "ops",
    "stream_batches",
    "One row per streaming micro-batch and family: rows in and out, late rows, duplicates, "
    "quarantined rows, watermark, produce-to-gold latency and the Kafka offsets read, "
    "per family the batch read.",
    keys=("query_name", "batch_id", "family"),
)

ALL_TABLES: tuple[TableSpec, ...] = (
    BRONZE_SALES,
    BRONZE_CLICKSTREAM,
    BRONZE_INVENTORY,
    SILVER_SALES_LINES,
    SILVER_CLICKSTREAM,
    SILVER_INVENTORY_CHANGES,
    SILVER_INVENTORY_SNAPSHOTS,
    QUARANTINE,
    SALES_BY_PRODUCT_MINUTE,
    SALES_BY_STORE_MINUTE,
    FUNNEL_BY_PRODUCT_MINUTE,
    INVENTORY_LEVELS,
    STORES,
    PRODUCTS,
    STREAM_BATCHES,
)


def by_name(qualified_name: str) -> TableSpec:
    for spec in ALL_TABLES:
        if qualified_name in (spec.qualified_name, spec.name):
            return spec
    raise KeyError(f"no table {qualified_name!r} in the catalog")


def table_uri(lake_root: str, spec: TableSpec) -> str:
    return f"{lake_root.rstrip('/')}/{spec.layer}/{spec.name}"


# --- The warehouse -------------------------------------------------------------
# The loaders land these lake tables in SNOWFLAKE_DATABASE.SNOWFLAKE_SCHEMA under
# `spec.warehouse_name`; bronze stays in the lake.
WAREHOUSE_TABLES: tuple[TableSpec, ...] = tuple(
    spec for spec in ALL_TABLES if spec.layer != "bronze"
)

# What the loader keeps about itself in SNOWFLAKE_SCHEMA: the last Delta version
# loaded per table, written in the same transaction as that table's rows.
LOADER_STATE_TABLE = "LOADER_STATE"


@dataclass(frozen=True)
class MartSpec:
    """A dbt mart in SNOWFLAKE_ANALYTICS_SCHEMA: what the dashboard and exports read."""

    name: str
    description: str
    grain: tuple[str, ...]
    columns: tuple[str, ...]

    @property
    def warehouse_name(self) -> str:
        return self.name.upper()


DAILY_KPIS = MartSpec(
    "fct_daily_kpis",
    "One row per business date (each order on its store's local day): orders, units, "
    "revenue, average order value, distinct customers, and the day's p95 produce-to-gold "
    "latency of the sales stream.",
    grain=("kpi_date",),
    columns=(
        "kpi_date",
        "orders",
        "units",
        "revenue_usd",
        "avg_order_value_usd",
        "distinct_customers",
        "streaming_latency_ms",
    ),
)
PRODUCT_SALES_DAILY = MartSpec(
    "fct_product_sales_daily",
    "Orders, units and revenue per product per business date (the store's local day).",
    grain=("sales_date", "product_id"),
    columns=(
        "sales_date",
        "product_id",
        "product_name",
        "category_code",
        "brand",
        "orders",
        "units",
        "revenue_usd",
    ),
)
PRODUCT_SALES_HOURLY = MartSpec(
    "fct_product_sales_hourly",
    "Orders, units and revenue per product per local business hour.",
    grain=("sales_hour", "product_id"),
    columns=(
        "sales_hour",
        "product_id",
        "product_name",
        "category_code",
        "brand",
        "orders",
        "units",
        "revenue_usd",
    ),
)
PRODUCT_SALES_MINUTE = MartSpec(
    "fct_product_sales_minute",
    "The streaming gold windows per product per minute, for 'the last minutes' views "
    "(incremental).",
    grain=("window_start", "product_id"),
    columns=(
        "window_start",
        "window_end",
        "product_id",
        "product_name",
        "orders",
        "units",
        "revenue_usd",
        "loaded_at",
    ),
)
STORE_SALES_DAILY = MartSpec(
    "fct_store_sales_daily",
    "Orders, units, revenue and average order value per store and channel per business date.",
    grain=("sales_date", "store_id", "channel"),
    columns=(
        "sales_date",
        "store_id",
        "store_name",
        "channel",
        "orders",
        "units",
        "revenue_usd",
        "avg_order_value_usd",
    ),
)
STORE_SALES_HOURLY = MartSpec(
    "fct_store_sales_hourly",
    "Orders, units, revenue and average order value per store and channel per local hour.",
    grain=("sales_hour", "store_id", "channel"),
    columns=(
        "sales_hour",
        "store_id",
        "store_name",
        "channel",
        "orders",
        "units",
        "revenue_usd",
        "avg_order_value_usd",
    ),
)
INVENTORY_HEALTH = MartSpec(
    "fct_inventory_health",
    "Current stock per store and product, days of supply from the demand of the last 7 "
    "days (or of the hours of data there are), a projected sell-through date, and a rank "
    "where 1 is the lowest stock.",
    grain=("store_id", "product_id"),
    columns=(
        "store_id",
        "store_name",
        "product_id",
        "product_name",
        "on_hand",
        "safety_stock",
        "is_below_safety_stock",
        "units_sold_last_7d",
        "demand_window_hours",
        "avg_daily_units_last_7d",
        "days_of_supply",
        "projected_sell_through_date",
        "low_stock_rank",
    ),
)
CUSTOMER_LIFETIME_VALUE = MartSpec(
    "fct_customer_lifetime_value",
    "Per known customer: orders, historical revenue, average order value, purchases per "
    "year, projected revenue and lifetime value (historical + projected).",
    grain=("customer_id",),
    columns=(
        "customer_id",
        "orders",
        "units",
        "historical_revenue_usd",
        "first_purchase_at",
        "last_purchase_at",
        "avg_order_value_usd",
        "purchases_per_year",
        "projected_revenue_usd",
        "lifetime_value_usd",
    ),
)
AOV_BY_DISCOUNT_BAND = MartSpec(
    "fct_aov_by_discount_band",
    "Orders, revenue and average order value per discount band of the order.",
    grain=("discount_band",),
    columns=("discount_band", "orders", "revenue_usd", "avg_order_value_usd"),
)
FUNNEL_BY_PRODUCT = MartSpec(
    "fct_funnel_by_product",
    "Sessions that viewed, carted and bought each product per business date, with "
    "conversion and cart abandonment rates (shares of sessions).",
    grain=("funnel_date", "product_id"),
    columns=(
        "funnel_date",
        "product_id",
        "product_name",
        "category_code",
        "sessions",
        "sessions_viewed",
        "sessions_carted",
        "sessions_purchased",
        "sessions_abandoned_cart",
        "view_to_cart_rate",
        "cart_to_purchase_rate",
        "conversion_rate",
        "cart_abandonment_rate",
    ),
)
FUNNEL_BY_CATEGORY = MartSpec(
    "fct_funnel_by_category",
    "The same session funnel per category and business date.",
    grain=("funnel_date", "category_code"),
    columns=(
        "funnel_date",
        "category_code",
        "sessions",
        "sessions_viewed",
        "sessions_carted",
        "sessions_purchased",
        "sessions_abandoned_cart",
        "view_to_cart_rate",
        "cart_to_purchase_rate",
        "conversion_rate",
        "cart_abandonment_rate",
    ),
)
PIPELINE_HEALTH = MartSpec(
    "fct_pipeline_health",
    "Per streaming query and event family: batches, rows, late, duplicate and quarantined "
    "events, produce-to-gold latency percentiles over its sampled events, the last batch "
    "and the last warehouse load.",
    grain=("query_name", "family"),
    columns=(
        "query_name",
        "family",
        "batches",
        "input_rows",
        "late_events",
        "duplicate_events",
        "quarantined_rows",
        "latency_p50_ms",
        "latency_p95_ms",
        "last_batch_at",
        "last_loaded_at",
    ),
)

ALL_MARTS: tuple[MartSpec, ...] = (
    DAILY_KPIS,
    PRODUCT_SALES_DAILY,
    PRODUCT_SALES_HOURLY,
    PRODUCT_SALES_MINUTE,
    STORE_SALES_DAILY,
    STORE_SALES_HOURLY,
    INVENTORY_HEALTH,
    CUSTOMER_LIFETIME_VALUE,
    AOV_BY_DISCOUNT_BAND,
    FUNNEL_BY_PRODUCT,
    FUNNEL_BY_CATEGORY,
    PIPELINE_HEALTH,
)

# `outputs/aggregates_daily.csv`: the daily KPIs as the DAG and mock/run_batch_kpis.py export them
AGGREGATES_DAILY_COLUMNS: tuple[str, ...] = (
    "date",
    "orders",
    "revenue_usd",
    "avg_order_value_usd",
    "units",
    "streaming_latency_ms",
)
