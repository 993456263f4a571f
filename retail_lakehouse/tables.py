"""The table catalog: every Delta table of the lake, its layer, keys and purpose.

Paths are `<LAKE_ROOT>/<layer>/<name>`; the warehouse loaders, the dashboards
and the demo summary all find tables through this module.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Layer = Literal["bronze", "silver", "gold", "reference", "ops"]


@dataclass(frozen=True)
class TableSpec:
    layer: Layer
    name: str
    description: str
    keys: tuple[str, ...] = ()
    partition_by: tuple[str, ...] = ()
    family: str | None = None

    @property
    def qualified_name(self) -> str:
        return f"{self.layer}.{self.name}"


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
    keys=("event_id", "line_number"),
    family="sales",
)
SILVER_CLICKSTREAM = TableSpec(
    "silver",
    "clickstream_events",
    "Valid, de-duplicated clickstream events (view, cart, remove_from_cart, purchase).",
    keys=("event_id",),
    family="clickstream",
)
SILVER_INVENTORY_CHANGES = TableSpec(
    "silver",
    "inventory_changes",
    "Valid, de-duplicated inventory changes, one row per item; quantity is signed.",
    keys=("event_id", "product_id"),
    family="inventory",
)
SILVER_INVENTORY_SNAPSHOTS = TableSpec(
    "silver",
    "inventory_snapshots",
    "Valid, de-duplicated stock counts, one row per store and product.",
    keys=("event_id", "product_id"),
    family="inventory",
)
QUARANTINE = TableSpec(
    "silver",
    "quarantine_events",
    "Records that failed parsing or validation: raw payload, reason code and detail.",
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
    "One row per streaming micro-batch: rows in and out, late rows, duplicates, "
    "quarantined rows, watermark and produce-to-gold latency.",
    keys=("query_name", "batch_id"),
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
