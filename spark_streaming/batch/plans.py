"""Which tables each event family feeds, and how its rows are computed.

A plan ties the driver's pure transforms to the table catalog; the batch processor
runs every plan the same way.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import pyarrow as pa

from retail_lakehouse import contracts, tables
from retail_lakehouse.tables import TableSpec
from spark_streaming.batch import gold, silver
from spark_streaming.lake_writer import MergeSpec

SilverBuilder = Callable[[pa.Table], pa.Table]
GoldBuilder = Callable[[pa.Table, timedelta], pa.Table]


@dataclass(frozen=True)
class WindowedGold:
    """A gold table fed by event-time windows of one silver table's on-time rows."""

    spec: TableSpec
    source: TableSpec
    build: Callable[..., pa.Table]  # (silver rows, window, *, updated_at) -> contribution
    merge: MergeSpec

    def contribution(self, rows: pa.Table, window: timedelta, updated_at: datetime) -> pa.Table:
        return self.build(rows, window, updated_at=updated_at)


@dataclass(frozen=True)
class FamilyPlan:
    family: contracts.EventFamily
    bronze: TableSpec
    silver: tuple[tuple[TableSpec, SilverBuilder], ...]
    windowed_gold: tuple[WindowedGold, ...] = ()
    keeps_inventory_levels: bool = False

    @property
    def own_tables(self) -> list[TableSpec]:
        """Every table this family's rows reach."""
        specs = [self.bronze, *(spec for spec, _ in self.silver)]
        specs += [target.spec for target in self.windowed_gold]
        if self.keeps_inventory_levels:
            specs.append(tables.INVENTORY_LEVELS)
        return specs

    @property
    def latency_table(self) -> TableSpec:
        """The table whose commit makes an event visible in gold (produce-to-gold)."""
        if self.windowed_gold:
            return self.windowed_gold[0].spec
        return tables.INVENTORY_LEVELS


SALES_PLAN = FamilyPlan(
    family=contracts.SALES,
    bronze=tables.BRONZE_SALES,
    silver=((tables.SILVER_SALES_LINES, silver.sales_lines),),
    windowed_gold=(
        WindowedGold(
            tables.SALES_BY_PRODUCT_MINUTE,
            tables.SILVER_SALES_LINES,
            gold.sales_by_product_minute,
            gold.SALES_BY_PRODUCT_MERGE,
        ),
        WindowedGold(
            tables.SALES_BY_STORE_MINUTE,
            tables.SILVER_SALES_LINES,
            gold.sales_by_store_minute,
            gold.SALES_BY_STORE_MERGE,
        ),
    ),
)

CLICKSTREAM_PLAN = FamilyPlan(
    family=contracts.CLICKSTREAM,
    bronze=tables.BRONZE_CLICKSTREAM,
    silver=((tables.SILVER_CLICKSTREAM, silver.clickstream_events),),
    windowed_gold=(
        WindowedGold(
            tables.FUNNEL_BY_PRODUCT_MINUTE,
            tables.SILVER_CLICKSTREAM,
            gold.funnel_by_product_minute,
            gold.FUNNEL_MERGE,
        ),
    ),
)

INVENTORY_PLAN = FamilyPlan(
    family=contracts.INVENTORY,
    bronze=tables.BRONZE_INVENTORY,
    silver=(
        (tables.SILVER_INVENTORY_CHANGES, silver.inventory_changes),
        (tables.SILVER_INVENTORY_SNAPSHOTS, silver.inventory_snapshots),
    ),
    keeps_inventory_levels=True,
)

PLANS: dict[str, FamilyPlan] = {
    plan.family.name: plan for plan in (SALES_PLAN, CLICKSTREAM_PLAN, INVENTORY_PLAN)
}


def plan_for(family_name: str) -> FamilyPlan:
    try:
        return PLANS[family_name]
    except KeyError:
        raise KeyError(
            f"unknown event family {family_name!r}; choose from {sorted(PLANS)}"
        ) from None
