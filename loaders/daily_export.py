"""`outputs/aggregates_daily.csv`: the daily KPIs mart as a file, one row per sales date.

Read from ANALYTICS.FCT_DAILY_KPIS (the dbt mart), never recomputed here, so the file
and the warehouse cannot disagree. Money is written with exactly two decimals (the
emulator returns SUMs of NUMBER(12,2) as floats), latency with one.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import pandas as pd

from retail_lakehouse import tables, warehouse
from retail_lakehouse.logs import kv
from retail_lakehouse.settings import Settings

log = logging.getLogger(__name__)

# AGGREGATES_DAILY_COLUMNS name -> FCT_DAILY_KPIS column
_SOURCE_COLUMN = {"date": "kpi_date"}
_MONEY_COLUMNS = ("revenue_usd", "avg_order_value_usd")
_COUNT_COLUMNS = ("orders", "units")


class DailyExportError(RuntimeError):
    """The daily KPIs could not be read from the warehouse (the mart is missing)."""

    retryable = False


@dataclass(frozen=True)
class DailyExport:
    path: Path
    rows: int
    first_date: str | None
    last_date: str | None


def daily_kpis_query() -> str:
    """The one SELECT the export runs. The schema comes from the connection, the
    table and column names from the mart contract, so no configured text reaches SQL."""
    columns = ", ".join(
        f"{_SOURCE_COLUMN.get(name, name)} as {name}" for name in tables.AGGREGATES_DAILY_COLUMNS
    )
    return (
        f"select {columns} from {tables.DAILY_KPIS.warehouse_name} "  # noqa: S608
        f"order by {_SOURCE_COLUMN['date']}"
    )


def read_daily_kpis(settings: Settings) -> pd.DataFrame:
    """FCT_DAILY_KPIS in AGGREGATES_DAILY_COLUMNS order, formatted for the CSV."""
    import snowflake.connector.errors

    schema = settings.snowflake_analytics_schema
    try:
        with warehouse.connect(settings, schema=schema) as conn:
            cursor = conn.cursor()
            cursor.execute(daily_kpis_query())
            rows = cursor.fetchall()
    except snowflake.connector.errors.ProgrammingError as exc:
        raise DailyExportError(
            f"cannot read {schema}.{tables.DAILY_KPIS.warehouse_name} on "
            f"{warehouse.describe(settings)} ({exc.msg}): build the dbt models first "
            "(`lakehouse pipeline`, or the DAG's dbt_build task)."
        ) from None
    return format_daily_kpis(rows)


def format_daily_kpis(rows: list[tuple[Any, ...]]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=list(tables.AGGREGATES_DAILY_COLUMNS))
    frame["date"] = [pd.Timestamp(d).date().isoformat() for d in frame["date"]]
    for name in _COUNT_COLUMNS:
        frame[name] = frame[name].astype("int64")
    for name in _MONEY_COLUMNS:
        frame[name] = [_decimal(v, "0.01") for v in frame[name]]
    frame["streaming_latency_ms"] = [_decimal(v, "0.1") for v in frame["streaming_latency_ms"]]
    return frame


def _decimal(value: Any, quantum: str) -> Decimal | None:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return None
    # str() first: Decimal(0.1) would carry the float's binary error into the rounding
    return Decimal(str(value)).quantize(Decimal(quantum), rounding=ROUND_HALF_UP)


def export_daily_kpis(settings: Settings, path: str | os.PathLike[str]) -> DailyExport:
    """Write FCT_DAILY_KPIS to `path` as CSV (AGGREGATES_DAILY_COLUMNS, ascending by
    date); the file is replaced in one rename, so a reader never sees half of it."""
    target = Path(path)
    frame = read_daily_kpis(settings)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.partial")
    frame.to_csv(partial, index=False)
    partial.replace(target)
    dates = frame["date"].tolist() or [None]
    export = DailyExport(target, len(frame), dates[0], dates[-1])
    log.info(kv("daily_kpis_exported", path=target, rows=export.rows, last_date=export.last_date))
    return export
