"""Reload a date range: upsert the lake's rows of those days into the warehouse again.

The incremental loader only moves what changed in the lake since its last load. When
the warehouse itself lost or altered rows (a bad manual DELETE, a restore from an old
backup), the lake still has them: this reads the rows of the date-keyed landed tables
whose event time (silver) or window start (gold) falls in [start, end], at the lake's
current version, and runs them through the loader's own staging and MERGE. Missing rows
come back, changed rows are restored with a fresh _LOADED_AT (so the incremental dbt
models pick them up), identical rows are left alone. LOADER_STATE is not touched: the
incremental position stays valid.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

import pyarrow as pa
import pyarrow.dataset as ds

from loaders import upsert
from loaders.delta_changes import open_table, table_schema
from loaders.identifiers import validated
from loaders.upsert import Target
from loaders.warehouse_types import landed_columns
from retail_lakehouse import tables, warehouse
from retail_lakehouse.logs import kv
from retail_lakehouse.settings import Settings
from retail_lakehouse.tables import TableSpec

log = logging.getLogger(__name__)

# landed tables with a row date, and the column that carries it
DATED_TABLES: tuple[tuple[TableSpec, str], ...] = (
    (tables.SILVER_SALES_LINES, "event_time"),
    (tables.SILVER_CLICKSTREAM, "event_time"),
    (tables.SILVER_INVENTORY_CHANGES, "event_time"),
    (tables.SILVER_INVENTORY_SNAPSHOTS, "event_time"),
    (tables.SALES_BY_PRODUCT_MINUTE, "window_start"),
    (tables.SALES_BY_STORE_MINUTE, "window_start"),
    (tables.FUNNEL_BY_PRODUCT_MINUTE, "window_start"),
)


@dataclass(frozen=True)
class DateRange:
    start: date
    end: date  # inclusive

    @classmethod
    def parse(cls, start: str | date | None, end: str | date | None) -> DateRange | None:
        """From the DAG params: None when no start is given; end defaults to start."""
        if not start:
            if end:
                raise ValueError("reload_end_date needs a reload_start_date")
            return None
        first = date.fromisoformat(str(start))
        last = date.fromisoformat(str(end)) if end else first
        if last < first:
            raise ValueError(f"reload_end_date {last} is before reload_start_date {first}")
        return cls(first, last)

    def bounds(self) -> tuple[datetime, datetime]:
        """[first instant, instant after the last day) in UTC."""
        return (
            datetime.combine(self.start, time(), UTC),
            datetime.combine(self.end + timedelta(days=1), time(), UTC),
        )


def reload_date_range(settings: Settings, dates: DateRange) -> dict[str, dict[str, int]]:
    """Upsert every dated landed table's rows of `dates` from the lake; per table,
    rows read, inserted and updated."""
    database = validated(settings.snowflake_database, what="SNOWFLAKE_DATABASE")
    schema = validated(settings.snowflake_schema, what="SNOWFLAKE_SCHEMA")
    report: dict[str, dict[str, int]] = {}
    with warehouse.connect(settings, schema=settings.snowflake_schema) as conn:
        upsert.ensure_schema(conn, database, schema)
        for spec, column in DATED_TABLES:
            table = open_table(settings, spec)
            if table is None:
                continue
            target = Target(
                database,
                schema,
                validated(spec.warehouse_name, what="table name"),
                tuple(landed_columns(table_schema(table))),
                tuple(validated(k, what="key column") for k in spec.natural_keys),
            )
            report[spec.qualified_name] = _reload_table(
                conn, settings, target, table, column, dates
            )
    log.info(kv("date_range_reloaded", start=dates.start, end=dates.end, tables=len(report)))
    return report


def _reload_table(conn, settings: Settings, target: Target, table, column: str, dates: DateRange):
    dataset = table.to_pyarrow_dataset()
    kind = dataset.schema.field(column).type
    first, after = (pa.scalar(b, type=kind) for b in _typed_bounds(dates, kind))
    rows_filter = (ds.field(column) >= first) & (ds.field(column) < after)
    upsert.ensure_table(conn, target)
    upsert.create_staging(conn, target)
    read = 0
    # threads off: the dataset thread pool can abort the interpreter at exit
    for batch in dataset.to_batches(
        filter=rows_filter, batch_size=settings.loader_chunk_rows, use_threads=False
    ):
        if not batch.num_rows:
            continue
        frame = upsert.staging_frame(pa.Table.from_batches([batch]), first_seq=read)
        rows, _ = upsert.dedupe_latest(frame, target.keys)
        upsert.stage(conn, target, rows, settings.snowflake_stage_method)
        read += batch.num_rows
    inserted = updated = 0
    if read:
        conn.autocommit(False)
        try:
            inserted, updated = upsert.merge(
                conn, target, delta_version=table.version(), loaded_at=upsert.utc_now()
            )
            conn.commit()
        except BaseException:
            conn.rollback()
            raise
        finally:
            conn.autocommit(True)
    upsert.drop_staging(conn, target)
    return {"rows_read": read, "rows_inserted": inserted, "rows_updated": updated}


def _typed_bounds(dates: DateRange, kind: pa.DataType) -> tuple[datetime, datetime]:
    first, after = dates.bounds()
    if pa.types.is_timestamp(kind) and kind.tz is None:
        return first.replace(tzinfo=None), after.replace(tzinfo=None)
    return first, after
