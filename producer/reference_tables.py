"""The catalog as Delta reference tables: reference.stores and reference.products.

Written with mode="overwrite", so rerunning the producer replaces them instead of
appending a second copy.
"""

from __future__ import annotations

import logging

import pyarrow as pa
from deltalake import write_deltalake

from producer.catalog import Catalog
from retail_lakehouse import lake
from retail_lakehouse.contracts import MONEY_PRECISION, MONEY_SCALE
from retail_lakehouse.logs import kv
from retail_lakehouse.settings import Settings
from retail_lakehouse.tables import PRODUCTS, STORES

log = logging.getLogger(__name__)

STORES_SCHEMA = pa.schema(
    [
        pa.field("store_id", pa.int32(), nullable=False),
        pa.field("store_name", pa.string(), nullable=False),
        pa.field("store_type", pa.string(), nullable=False),
        pa.field("city", pa.string()),
        pa.field("region", pa.string()),
        pa.field("opened_on", pa.date32()),
        # IANA zone of the store's business day
        pa.field("time_zone", pa.string(), nullable=False),
    ]
)

PRODUCTS_SCHEMA = pa.schema(
    [
        pa.field("product_id", pa.int64(), nullable=False),
        pa.field("product_name", pa.string(), nullable=False),
        pa.field("category_id", pa.int64()),
        pa.field("category_code", pa.string()),
        pa.field("brand", pa.string()),
        pa.field("list_price", pa.decimal128(MONEY_PRECISION, MONEY_SCALE), nullable=False),
        pa.field("safety_stock", pa.int32(), nullable=False),
    ]
)


def stores_table(catalog: Catalog, web_store_time_zone: str | None = None) -> pa.Table:
    """The stores; the online store's business day is in `web_store_time_zone` when given."""
    rows = [
        {name: getattr(store, name) for name in STORES_SCHEMA.names} for store in catalog.stores
    ]
    if web_store_time_zone:
        for row in rows:
            if row["store_type"] == "online":
                row["time_zone"] = web_store_time_zone
    return pa.Table.from_pylist(rows, schema=STORES_SCHEMA)


def products_table(catalog: Catalog) -> pa.Table:
    rows = [
        {name: getattr(product, name) for name in PRODUCTS_SCHEMA.names}
        for product in catalog.products
    ]
    return pa.Table.from_pylist(rows, schema=PRODUCTS_SCHEMA)


def write_reference_tables(settings: Settings, catalog: Catalog) -> None:
    options = lake.storage_options(settings) or None
    stores = stores_table(catalog, settings.web_store_time_zone)
    for spec, table in ((STORES, stores), (PRODUCTS, products_table(catalog))):
        uri = lake.uri(settings, spec)
        write_deltalake(
            uri,
            table,
            mode="overwrite",
            # a snapshot replaces its table whole, new columns (time_zone) included
            schema_mode="overwrite",
            configuration=spec.delta_properties,
            storage_options=options,
        )
        log.info(kv("reference_table_written", table=spec.qualified_name, rows=table.num_rows))
