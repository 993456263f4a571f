"""`lakehouse load --follow`: keep the warehouse within seconds of the lake.

Every LOADER_FOLLOW_INTERVAL_S seconds: load what changed in the lake (the same
incremental, compare-and-set load as `lakehouse load`, so a DAG run beside it never
doubles a row), then, when rows landed, refresh the live marts incrementally:
`fct_product_sales_minute` (the minute windows landed since its newest `loaded_at`) and
`fct_daily_kpis` (the business dates those rows belong to). dbt parses the project once;
each refresh reuses that manifest. The full rebuild of every mart stays with the DAG.

After each refresh it measures how long after being produced each newly landed sale
became counted in both live marts (`follow_freshness`); the report says so.
"""

from __future__ import annotations

import json
import logging
import signal
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from loaders.follow_freshness import FreshnessSummary, LiveMartFreshness
from loaders.kpi_models import KpiModelsError, dbt_arguments, invoke_dbt
from loaders.lake_to_snowflake import LoadReport, load_lake, select_tables
from retail_lakehouse import tables, warehouse
from retail_lakehouse.logs import kv
from retail_lakehouse.settings import Settings

log = logging.getLogger(__name__)

LIVE_MARTS = (tables.PRODUCT_SALES_MINUTE.name, tables.DAILY_KPIS.name)

# the landed tables the live marts are built from: no refresh until each has landed
LIVE_SOURCES = (
    tables.SILVER_SALES_LINES,
    tables.SALES_BY_PRODUCT_MINUTE,
    tables.STREAM_BATCHES,
    tables.STORES,
    tables.PRODUCTS,
)


def live_selection(*, upstream: bool) -> list[str]:
    """dbt's selection for a refresh: the live marts with all they read when `upstream`
    (the staging and intermediate views, the dimensions); otherwise only the incremental
    models among them, the two marts and the unnested latency samples they read."""
    if upstream:
        return [f"+{mart}" for mart in LIVE_MARTS]
    return [f"+{mart},config.materialized:incremental" for mart in LIVE_MARTS]


@dataclass
class FollowReport:
    cycles: int = 0
    refreshes: int = 0
    rows_loaded: int = 0
    load_s: list[float] = field(default_factory=list)
    refresh_s: list[float] = field(default_factory=list)
    freshness: FreshnessSummary = field(default_factory=lambda: FreshnessSummary.of([]))
    daily_only_freshness: FreshnessSummary = field(default_factory=lambda: FreshnessSummary.of([]))
    not_counted: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "cycles": self.cycles,
            "refreshes": self.refreshes,
            "rows_loaded": self.rows_loaded,
            "load_s_p50": _median(self.load_s),
            "refresh_s_p50": _median(self.refresh_s),
            "freshness": self.freshness.to_dict(),
            "late_sales_daily_kpis_freshness": self.daily_only_freshness.to_dict(),
            "sales_not_counted_within_10_min": self.not_counted,
        }

    def describe(self) -> str:
        return (
            f"{self.freshness.describe()}; {self.cycles} cycles, {self.refreshes} refreshes "
            f"(load p50 {_median(self.load_s) or 0:.1f} s, marts p50 "
            f"{_median(self.refresh_s) or 0:.1f} s)"
        )


def _median(values: list[float]) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    middle = len(ordered) // 2
    return round(
        ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2, 2
    )


class FollowLoader:
    """The follow loop; `run` until `stop` is set (or `max_cycles` ran)."""

    def __init__(
        self,
        settings: Settings,
        *,
        tables_: Iterable[str] | None = None,
        interval_s: float | None = None,
        on_cycle: Callable[[FollowReport], None] | None = None,
        measured_from: datetime | None = None,
    ) -> None:
        self.settings = settings
        self.tables = list(tables_) if tables_ else None
        self.interval_s = settings.loader_follow_interval_s if interval_s is None else interval_s
        self.on_cycle = on_cycle
        self.report = FollowReport()
        self.freshness = LiveMartFreshness(produced_from=_naive_utc(measured_from))
        self._manifest: Any = None
        self._built_upstream = False

    def run(self, stop: threading.Event | None = None, *, max_cycles: int | None = None):
        stop = stop or threading.Event()
        log.info(kv("follow_started", interval_s=self.interval_s, tables=self.tables or "all"))
        self._parse()  # before the first sale lands: parsing takes seconds
        while not stop.is_set():
            started = time.monotonic()
            self.cycle()
            if max_cycles is not None and self.report.cycles >= max_cycles:
                break
            stop.wait(max(0.0, self.interval_s - (time.monotonic() - started)))
        log.info(kv("follow_stopped", **self.report.to_dict()["freshness"]))
        return self.report

    def cycle(self) -> FollowReport:
        """One load, and one refresh of the live marts when anything landed: the tables
        the live marts read first, then (after the refresh) the rest, so the live marts
        never wait for the clickstream and inventory tables."""
        live, rest = self._table_order()
        started = time.monotonic()
        # an empty selection would mean every table: load the live sources only if chosen
        loaded = load_lake(self.settings, tables=live, progress=False) if live else LoadReport()
        self.report.load_s.append(round(time.monotonic() - started, 2))
        rows = self._count(loaded)
        if rows and self._sources_landed(loaded):
            self._refresh(loaded)
        if rest:
            self._count(load_lake(self.settings, tables=rest, progress=False))
        self.report.cycles += 1
        if self.on_cycle is not None:
            self.on_cycle(self.report)
        return self.report

    def _table_order(self) -> tuple[list[str], list[str]]:
        """(the chosen tables the live marts read, the other chosen tables)."""
        chosen = [s.qualified_name for s in select_tables(self.tables)]
        sources = {s.qualified_name for s in LIVE_SOURCES}
        return [t for t in chosen if t in sources], [t for t in chosen if t not in sources]

    def _count(self, loaded: LoadReport) -> int:
        rows = loaded.rows_inserted + loaded.rows_updated + loaded.rows_deleted
        self.report.rows_loaded += rows
        return rows

    def _sources_landed(self, loaded: LoadReport) -> bool:
        if self._built_upstream:
            return True
        present = {t.table for t in loaded.tables if t.to_version is not None}
        return all(spec.qualified_name in present for spec in LIVE_SOURCES)

    def _refresh(self, loaded: LoadReport) -> None:
        started = time.monotonic()
        # everything upstream once, and again when a reference table changed
        reference_changed = any(
            t.table.startswith("reference.") and t.status in ("loaded", "reloaded whole")
            for t in loaded.tables
        )
        upstream = not self._built_upstream or reference_changed
        select = live_selection(upstream=upstream)
        self._parse()
        result = invoke_dbt(
            self.settings,
            dbt_arguments(self.settings, command="run", select=select),
            manifest=self._manifest,
        )
        if not result.success:
            failed = [
                r.node.unique_id
                for r in getattr(result.result, "results", None) or ()
                if str(r.status) not in ("success", "pass")
            ]
            raise KpiModelsError(
                f"live marts not refreshed: {', '.join(failed) or result.exception}; see "
                "dbt's log, fix, and rerun `lakehouse load --follow`",
                retryable=not failed,
            )
        self._built_upstream = True
        self.report.refreshes += 1
        self.report.refresh_s.append(round(time.monotonic() - started, 2))
        self._measure()

    def _parse(self) -> None:
        """dbt's manifest, parsed once and handed to every later invocation."""
        if self._manifest is not None:
            return
        parsed = invoke_dbt(self.settings, dbt_arguments(self.settings, command="parse"))
        if not parsed.success:
            raise KpiModelsError(f"dbt could not parse the project: {parsed.exception}")
        self._manifest = parsed.result

    def _measure(self) -> None:
        with warehouse.connect(self.settings, schema=self.settings.snowflake_schema) as conn:
            counted = self.freshness.after_refresh(conn, self.settings.snowflake_analytics_schema)
        self.report.freshness = self.freshness.summary()
        self.report.daily_only_freshness = FreshnessSummary.of(self.freshness.daily_only_s)
        self.report.not_counted = self.freshness.given_up
        log.info(
            kv("live_marts_refreshed", sales_counted=counted, **self.report.to_dict()["freshness"])
        )


def follow_lake(
    settings: Settings,
    *,
    tables: Iterable[str] | None = None,
    report_path: str | Path | None = None,
    measured_from: datetime | None = None,
) -> FollowReport:
    """`lakehouse load --follow` until SIGINT or SIGTERM; the report is written as JSON
    to `report_path` (when given) after every refresh and at the end."""
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())

    def write(report: FollowReport) -> None:
        if report_path is not None:
            path = Path(report_path)
            path.parent.mkdir(parents=True, exist_ok=True)
            partial = path.with_name(f".{path.name}.partial")
            partial.write_text(json.dumps(report.to_dict(), indent=2))
            partial.replace(path)

    follower = FollowLoader(settings, tables_=tables, on_cycle=write, measured_from=measured_from)
    report = follower.run(stop)
    write(report)
    return report


def measure_follow_freshness(
    settings: Settings, stop: threading.Event, *, interval_s: float | None = None
) -> FreshnessSummary:
    """For `make bench`: follow the lake in this thread until `stop` is set, then the
    produce-to-counted freshness of the sales it landed (p50, p95, max, target 60 s)."""
    return FollowLoader(settings, interval_s=interval_s).run(stop).freshness


def _naive_utc(moment: datetime | None) -> datetime | None:
    if moment is None or moment.tzinfo is None:
        return moment
    return moment.astimezone(UTC).replace(tzinfo=None)
