"""Pure Spark transformations of the pipeline, each a DataFrame -> DataFrame function.

bronze -> validation (parse, reason codes, quarantine) -> silver (flatten, explode)
-> dedup (duplicates, late flags) -> gold (minute aggregates, inventory levels).
Nothing here reads or writes a table; the streaming jobs do the I/O.
"""

from __future__ import annotations

from spark_streaming.transforms.bronze import to_bronze
from spark_streaming.transforms.dedup import drop_records_at, flag_late
from spark_streaming.transforms.gold import (
    FUNNEL_MERGE,
    SALES_BY_PRODUCT_MERGE,
    SALES_BY_STORE_MERGE,
    funnel_by_product_minute,
    sales_by_product_minute,
    sales_by_store_minute,
)
from spark_streaming.transforms.inventory import INVENTORY_LEVELS_MERGE, inventory_levels
from spark_streaming.transforms.silver import (
    clickstream_events,
    inventory_changes,
    inventory_snapshots,
    sales_lines,
    valid_events,
)
from spark_streaming.transforms.validation import parse_and_validate, quarantine_rows

__all__ = [
    "FUNNEL_MERGE",
    "INVENTORY_LEVELS_MERGE",
    "SALES_BY_PRODUCT_MERGE",
    "SALES_BY_STORE_MERGE",
    "clickstream_events",
    "drop_records_at",
    "flag_late",
    "funnel_by_product_minute",
    "inventory_changes",
    "inventory_levels",
    "inventory_snapshots",
    "parse_and_validate",
    "quarantine_rows",
    "sales_by_product_minute",
    "sales_by_store_minute",
    "sales_lines",
    "to_bronze",
    "valid_events",
]
