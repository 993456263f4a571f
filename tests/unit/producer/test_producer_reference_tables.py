from __future__ import annotations

from datetime import date
from decimal import Decimal

import pyarrow as pa
from deltalake import DeltaTable

from producer.catalog import Catalog, Product, Store
from producer.reference_tables import write_reference_tables
from retail_lakehouse.settings import Settings

CATALOG = Catalog(
    stores=(
        Store(1, "Springfield Mall", "physical", "Springfield", "Ohio", date(2010, 5, 1),
              "America/New_York"),
        Store(900, "Online Store", "online", "Springfield", "National", date(2012, 4, 1)),
    ),
    products=(
        Product(1004856, "Samsung Smartphone AB-123", 2053013555631882655,
                "electronics.smartphone", "samsung", Decimal("129.99"), 5),
        Product(3601505, "Philips Kettle CD-456", 2053013563810775923,
                "appliances.kitchen.kettle", "philips", Decimal("24.99"), 20),
    ),
)  # fmt: skip


def read(root, layer_name: str) -> pa.Table:
    return DeltaTable(f"{root}/reference/{layer_name}").to_pyarrow_table()


def test_stores_and_products_are_written_with_their_types(tmp_path) -> None:
    settings = Settings(lake_root=str(tmp_path), web_store_time_zone="America/Los_Angeles")
    write_reference_tables(settings, CATALOG)

    stores = read(tmp_path, "stores")
    assert stores.schema.field("store_id").type == pa.int32()
    assert stores.schema.field("opened_on").type == pa.date32()
    assert stores.sort_by("store_id").to_pylist() == [
        {"store_id": 1, "store_name": "Springfield Mall", "store_type": "physical",
         "city": "Springfield", "region": "Ohio", "opened_on": date(2010, 5, 1),
         "time_zone": "America/New_York"},
        # the web store's business day is the configured one
        {"store_id": 900, "store_name": "Online Store", "store_type": "online",
         "city": "Springfield", "region": "National", "opened_on": date(2012, 4, 1),
         "time_zone": "America/Los_Angeles"},
    ]  # fmt: skip

    products = read(tmp_path, "products")
    assert products.schema.field("product_id").type == pa.int64()
    assert products.schema.field("category_id").type == pa.int64()
    assert products.schema.field("list_price").type == pa.decimal128(12, 2)
    assert products.schema.field("safety_stock").type == pa.int32()
    assert products.sort_by("product_id").to_pylist() == [
        {"product_id": 1004856, "product_name": "Samsung Smartphone AB-123",
         "category_id": 2053013555631882655, "category_code": "electronics.smartphone",
         "brand": "samsung", "list_price": Decimal("129.99"), "safety_stock": 5},
        {"product_id": 3601505, "product_name": "Philips Kettle CD-456",
         "category_id": 2053013563810775923, "category_code": "appliances.kitchen.kettle",
         "brand": "philips", "list_price": Decimal("24.99"), "safety_stock": 20},
    ]  # fmt: skip


def test_rerunning_replaces_instead_of_appending(tmp_path) -> None:
    settings = Settings(lake_root=str(tmp_path))
    write_reference_tables(settings, CATALOG)
    write_reference_tables(settings, CATALOG)
    assert read(tmp_path, "stores").num_rows == 2
    assert read(tmp_path, "products").num_rows == 2
    assert DeltaTable(f"{tmp_path}/reference/products").version() == 1


def test_reference_tables_carry_the_change_data_feed_property(tmp_path) -> None:
    settings = Settings(lake_root=str(tmp_path))
    write_reference_tables(settings, CATALOG)
    for name in ("stores", "products"):
        configuration = DeltaTable(f"{tmp_path}/reference/{name}").metadata().configuration
        assert configuration.get("delta.enableChangeDataFeed") == "true"


def test_physical_stores_get_their_state_time_zone() -> None:
    from producer.catalog import build_catalog
    from producer.time_zones import state_time_zone

    catalog = build_catalog(42)
    assert {s.time_zone for s in catalog.physical_stores} == {
        state_time_zone(s.region) for s in catalog.physical_stores
    }
    assert state_time_zone("California") == "America/Los_Angeles"
    assert state_time_zone("Texas") == "America/Chicago"
    assert state_time_zone("Atlantis") == "America/New_York"
