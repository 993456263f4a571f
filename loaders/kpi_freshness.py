"""How fresh are the daily KPIs a pipeline run (or a DAG run) built? Produce time of each
sale that run newly counted to the end of its dbt build.

Definition: a sale (a silver sales line) is *newly counted* by a run when that run's
load landed it: its `_LOADED_AT` is the stamp LOADER_STATE holds for silver.sales_lines
(the loader stamps every row a load writes with one warehouse-clock value). Its
freshness is `built_at - produced_at`: the end of the run's dbt build, read from the
warehouse's clock, minus the time the producer sent the event (stamped in the event,
kept in silver). We report it for the newest such sale (the floor the streams, the
load and the build add) and as p50, p95 and max over all of them (the max is how long
the oldest sale waited for this run: at most about the time since the previous run).
`lakehouse load --follow` measures its live marts the same way, refresh by refresh
(`follow_freshness`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime

from loaders.follow_freshness import percentile
from retail_lakehouse import tables, warehouse
from retail_lakehouse.settings import Settings


@dataclass(frozen=True)
class KpiFreshness:
    built_at: datetime
    counted_sales_lines: int
    newest_produced_at: datetime | None
    newest_s: float | None
    p50_s: float | None
    p95_s: float | None
    max_s: float | None

    def to_dict(self) -> dict[str, object]:
        values = asdict(self)
        for key in ("built_at", "newest_produced_at"):
            values[key] = values[key].isoformat() if values[key] else None
        return values

    def describe(self) -> str:
        if self.newest_s is None:
            return "no sale newly counted by this build"
        return (
            f"{self.newest_s:.1f} s for the newest sale this build counted (p50 "
            f"{self.p50_s:.1f} s, p95 {self.p95_s:.1f} s, max {self.max_s:.1f} s over "
            f"{self.counted_sales_lines} sales lines this run landed; produce time to dbt "
            "build end)"
        )


def warehouse_now(settings: Settings) -> datetime:
    """The warehouse's clock (UTC): when a build that just finished is over."""
    with warehouse.connect(settings) as conn:
        cursor = conn.cursor()
        cursor.execute("select sysdate()")
        row = cursor.fetchone()
    assert row is not None
    return _utc(row[0])


def measure_kpi_freshness(settings: Settings, built_at: datetime) -> KpiFreshness:
    """Freshness of FCT_DAILY_KPIS as built at `built_at`, over the sales lines the run's
    load landed (none when it landed none)."""
    lines = tables.SILVER_SALES_LINES
    # table names from the catalog, schemas from the connection: nothing configured in SQL
    sql = (
        f"select produced_at from {lines.warehouse_name} "  # noqa: S608
        f"where _loaded_at = (select loaded_at from {tables.LOADER_STATE_TABLE} "
        "where table_name = %(table)s and delta_version is not null)"
    )
    with warehouse.connect(settings) as conn:
        cursor = conn.cursor()
        cursor.execute(sql, {"table": lines.qualified_name})
        produced = [_utc(p) for (p,) in cursor.fetchall() if p is not None]
    return freshness_of(produced, built_at)


def freshness_of(produced: list[datetime], built_at: datetime) -> KpiFreshness:
    if not produced:
        return KpiFreshness(built_at, 0, None, None, None, None, None)
    ages = sorted((built_at - p).total_seconds() for p in produced)
    newest = max(produced)
    return KpiFreshness(
        built_at=built_at,
        counted_sales_lines=len(ages),
        newest_produced_at=newest,
        newest_s=round((built_at - newest).total_seconds(), 3),
        p50_s=round(percentile(ages, 50), 3),
        p95_s=round(percentile(ages, 95), 3),
        max_s=round(ages[-1], 3),
    )


def _utc(value: datetime) -> datetime:
    """TIMESTAMP_NTZ comes back naive and holds UTC."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
