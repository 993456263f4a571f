"""How fresh are the daily KPIs? Produce time of each counted sale to the mart's build.

Definition: a sale is *counted* in ANALYTICS.FCT_DAILY_KPIS once the dbt build that
rebuilt the mart from the landed SILVER_SALES_LINES has finished (`built_at`); its
freshness is `built_at - produced_at`, where produced_at is the wall-clock time the
producer sent the event (stamped in the event, kept in silver). We report it for the
newest counted sale (how old the freshest number was when it became queryable: the
floor that the streams, the load and the dbt build add) and as p50 and max over all
counted sales of that build (the max is bounded by how long events have been
accumulating since the previous build).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime

from retail_lakehouse import tables, warehouse
from retail_lakehouse.settings import Settings


@dataclass(frozen=True)
class KpiFreshness:
    built_at: datetime
    counted_sales_lines: int
    newest_produced_at: datetime | None
    newest_s: float | None
    p50_s: float | None
    max_s: float | None

    def to_dict(self) -> dict[str, object]:
        values = asdict(self)
        for key in ("built_at", "newest_produced_at"):
            values[key] = values[key].isoformat() if values[key] else None
        return values

    def describe(self) -> str:
        if self.newest_s is None:
            return "no sales counted yet"
        return (
            f"{self.newest_s:.1f} s for the newest counted sale "
            f"(p50 {self.p50_s:.1f} s, max {self.max_s:.1f} s over "
            f"{self.counted_sales_lines} counted sales lines; produce time to dbt build end)"
        )


def measure_kpi_freshness(settings: Settings, built_at: datetime) -> KpiFreshness:
    """Freshness of FCT_DAILY_KPIS as built at `built_at` (UTC), from the landed sales."""
    # table names from the catalog, schemas from the connection: nothing configured in SQL
    kpi_sql = f"select kpi_date from {tables.DAILY_KPIS.warehouse_name}"  # noqa: S608
    sales_sql = (
        "select event_time, produced_at "  # noqa: S608
        f"from {tables.SILVER_SALES_LINES.warehouse_name}"
    )
    kpi_dates = {
        _as_date(row[0]) for row in _fetch(settings, settings.snowflake_analytics_schema, kpi_sql)
    }
    sales = _fetch(settings, settings.snowflake_schema, sales_sql)
    produced = [_utc(p) for t, p in sales if p is not None and _as_date(t) in kpi_dates]
    return freshness_of(produced, built_at)


def freshness_of(produced: list[datetime], built_at: datetime) -> KpiFreshness:
    if not produced:
        return KpiFreshness(built_at, 0, None, None, None, None)
    ages = sorted((built_at - p).total_seconds() for p in produced)
    newest = max(produced)
    return KpiFreshness(
        built_at=built_at,
        counted_sales_lines=len(ages),
        newest_produced_at=newest,
        newest_s=round((built_at - newest).total_seconds(), 3),
        p50_s=round(_median(ages), 3),
        max_s=round(ages[-1], 3),
    )


def _median(sorted_values: list[float]) -> float:
    middle = len(sorted_values) // 2
    if len(sorted_values) % 2:
        return sorted_values[middle]
    return (sorted_values[middle - 1] + sorted_values[middle]) / 2


def _fetch(settings: Settings, schema: str, sql: str) -> list[tuple]:
    with warehouse.connect(settings, schema=schema) as conn:
        cursor = conn.cursor()
        cursor.execute(sql)
        return list(cursor.fetchall())


def _as_date(value: date | datetime) -> date:
    return value.date() if isinstance(value, datetime) else value


def _utc(value: datetime) -> datetime:
    """TIMESTAMP_NTZ comes back naive and holds UTC."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
