"""The warehouse half of the path, step by step: fresh lake -> load -> dbt build -> CSV.

The Airflow DAG runs each step as its own task (so each retries on its own); the
demo and `lakehouse pipeline` run them in a row with `run_warehouse_pipeline`. Every
step returns a small JSON-able dict, which is what a DAG task hands to XCom.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from retail_lakehouse.logs import kv
from retail_lakehouse.settings import Settings

log = logging.getLogger(__name__)


class PipelineError(RuntimeError):
    """A step failed for a reason a person can act on; the message says which and what to do."""


def user_facing_errors() -> tuple[type[BaseException], ...]:
    """The named errors of each step whose message already says what to do."""
    from loaders.daily_export import DailyExportError
    from loaders.date_reload import DateReloadError
    from loaders.freshness import LakeFreshnessError
    from loaders.kpi_models import KpiModelsError
    from loaders.lake_to_snowflake import LoadError

    return (LakeFreshnessError, LoadError, DateReloadError, KpiModelsError, DailyExportError)


def check_freshness_step(settings: Settings, max_age_minutes: float | None = None) -> dict:
    """Fail (LakeStaleError / LakeMissingError) unless every stream committed lately."""
    from loaders.freshness import check_lake_freshness

    minutes = settings.max_lake_age_minutes if max_age_minutes is None else max_age_minutes
    return check_lake_freshness(settings, float(minutes) * 60).to_dict()


def load_step(settings: Settings) -> dict:
    """Upsert what changed in the lake since the last load; rows per landed table."""
    from loaders.lake_to_snowflake import load_lake

    report = load_lake(settings, progress=False)
    tables = {
        t.table: {
            "from_version": t.from_version,
            "to_version": t.to_version,
            "rows_inserted": t.rows_inserted,
            "rows_updated": t.rows_updated,
        }
        for t in report.tables
    }
    return {"tables": tables, "rows_loaded": rows_loaded(tables)}


def reload_step(settings: Settings, start: str | None, end: str | None) -> dict:
    """Upsert the lake's rows of [start, end] again (no-op when no start date is given)."""
    from loaders.date_reload import DateRange, reload_date_range

    dates = DateRange.parse(start, end)
    if dates is None:
        return {"reloaded": False}
    tables = reload_date_range(settings, dates)
    return {
        "reloaded": True,
        "start": dates.start.isoformat(),
        "end": dates.end.isoformat(),
        "tables": tables,
    }


def rows_loaded(tables: dict[str, dict[str, Any]]) -> int:
    return sum(int(t["rows_inserted"] or 0) + int(t["rows_updated"] or 0) for t in tables.values())


def source_freshness_step(settings: Settings) -> dict:
    """`dbt source freshness`: fail when a landed table is past its error threshold."""
    from loaders.kpi_models import check_source_freshness

    return check_source_freshness(settings).to_dict()


def dbt_build_step(settings: Settings, *, full_refresh: bool = False) -> dict:
    """`dbt build` of every model and test, timed; raises when anything fails."""
    from loaders.kpi_freshness import warehouse_now
    from loaders.kpi_models import build_kpi_models

    report = build_kpi_models(settings, full_refresh=full_refresh)
    return {
        # the warehouse's clock, as every freshness figure here is
        "built_at": warehouse_now(settings).isoformat(),
        "elapsed_s": report.elapsed_s,
        "report": report.to_dict(),
    }


def export_step(settings: Settings, path: str | Path | None = None) -> dict:
    """FCT_DAILY_KPIS to the daily CSV (DAILY_KPIS_CSV unless `path` is given)."""
    from loaders.daily_export import export_daily_kpis

    export = export_daily_kpis(settings, path or settings.daily_kpis_csv)
    return {
        "path": str(export.path.resolve()),
        "rows": export.rows,
        "first_date": export.first_date,
        "last_date": export.last_date,
    }


def kpi_freshness_step(settings: Settings, built_at: str, *, landed_sales: bool = True) -> dict:
    """Produce time of the sales this run landed to the end of the build that counted them
    (none when this run's load landed no sales line)."""
    from loaders.kpi_freshness import freshness_of, measure_kpi_freshness

    when = datetime.fromisoformat(built_at)
    freshness = measure_kpi_freshness(settings, when) if landed_sales else freshness_of([], when)
    return {**freshness.to_dict(), "description": freshness.describe()}


@dataclass
class PipelineReport:
    steps: dict[str, dict] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def rows_loaded_by_table(self) -> dict[str, int]:
        tables = self.steps.get("load", {}).get("tables", {})
        return {name: rows_loaded({name: t}) for name, t in tables.items()}

    def to_dict(self) -> dict[str, Any]:
        return {"steps": self.steps, "seconds": self.seconds}


def run_warehouse_pipeline(
    settings: Settings,
    *,
    max_age_minutes: float | None = None,
    full_refresh: bool = False,
    csv_path: str | Path | None = None,
) -> PipelineReport:
    """Freshness check, load, dbt build, CSV export and the KPI freshness, in a row."""
    report = PipelineReport()

    def timed(name: str, step: Any, *args: Any, **kwargs: Any) -> dict:
        log.info(kv("pipeline_step_started", step=name))
        started = time.monotonic()
        try:
            result: dict = step(*args, **kwargs)
        except user_facing_errors() as exc:
            raise PipelineError(f"{name} step failed: {exc}") from exc
        report.seconds[name] = round(time.monotonic() - started, 2)
        report.steps[name] = result
        log.info(kv("pipeline_step_finished", step=name, seconds=report.seconds[name]))
        return result

    timed("freshness", check_freshness_step, settings, max_age_minutes)
    loaded = timed("load", load_step, settings)
    built = timed("dbt_build", dbt_build_step, settings, full_refresh=full_refresh)
    timed("export", export_step, settings, csv_path)
    sales = loaded["tables"].get("silver.sales_lines") or {}
    landed = bool(rows_loaded({"silver.sales_lines": sales})) if sales else False
    timed("kpi_freshness", kpi_freshness_step, settings, built["built_at"], landed_sales=landed)
    return report
