"""Reload a date range: upsert the lake's rows of those days into the warehouse again.

The incremental loader only moves what changed in the lake since its last load. When
the warehouse itself lost or altered rows (a bad manual DELETE, a restore from an old
backup), the lake still has them: this reads the rows of the date-keyed landed tables
whose event time (silver) or window start (gold) falls in [start, end], at the lake's
current version, and runs them through the loader's own staging and MERGE. Missing rows
come back, changed rows are restored with a fresh _LOADED_AT (so the incremental dbt
models pick them up), identical rows are left alone. LOADER_STATE keeps its version (the
incremental position stays valid); the reload takes its lock, and refuses to write over
a load that landed a newer version than the one it read.

Dates are business dates, and a store's business day is its local day, which reaches
up to 14 hours into the UTC days either side: the reload takes the UTC days from one
before the first date to one after the last (identical rows cost nothing).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

import pyarrow as pa
import pyarrow.dataset as ds

from loaders import load_state, upsert
from loaders.delta_changes import ChangeChunk, conform, open_table, table_schema
from loaders.identifiers import validated
from loaders.upsert import MergeCounts, Target
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


class DateReloadError(RuntimeError):
    """A reload that could not run safely (a load landed newer rows meanwhile); the
    message says what to do, and a later try reads the newer lake."""

    retryable = True


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
        """[first instant, instant after the last day) in UTC that holds every store's
        local business days of the range."""
        return (
            datetime.combine(self.start - timedelta(days=1), time(), UTC),
            datetime.combine(self.end + timedelta(days=2), time(), UTC),
        )


def reload_date_range(settings: Settings, dates: DateRange) -> dict[str, dict[str, int]]:
    """Upsert every dated landed table's rows of `dates` from the lake; per table,
    rows read, inserted and updated."""
    database = validated(settings.snowflake_database, what="SNOWFLAKE_DATABASE")
    schema = validated(settings.snowflake_schema, what="SNOWFLAKE_SCHEMA")
    report: dict[str, dict[str, int]] = {}
    with warehouse.connect(settings, schema=settings.snowflake_schema) as conn:
        upsert.ensure_schema(conn, database, schema)
        load_state.ensure_state_table(conn, database, schema)
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
                conn, settings, spec, target, table, column, dates
            )
    log.info(kv("date_range_reloaded", start=dates.start, end=dates.end, tables=len(report)))
    return report


def _reload_table(
    conn, settings: Settings, spec: TableSpec, target: Target, table, column: str, dates
) -> dict[str, int]:
    version = table.version()
    dataset = table.to_pyarrow_dataset()
    kind = dataset.schema.field(column).type
    first, after = (pa.scalar(b, type=kind) for b in _typed_bounds(dates, kind))
    rows_filter = (ds.field(column) >= first) & (ds.field(column) < after)
    load_state.ensure_state_row(conn, target.database, target.schema, spec.qualified_name)
    state = load_state.read_state(conn, target.database, target.schema, spec.qualified_name)
    if state.version is not None and state.version > version:
        raise DateReloadError(_behind(spec, state.version, version))
    upsert.ensure_table(conn, target)
    upsert.create_staging(conn, target)
    schema = table_schema(table)
    read = 0
    # threads off: the dataset thread pool can abort the interpreter at exit
    for batch in dataset.to_batches(
        filter=rows_filter, batch_size=settings.loader_chunk_rows, use_threads=False
    ):
        if not batch.num_rows:
            continue
        rows = pa.Table.from_batches([conform(batch, schema)])
        chunk = ChangeChunk(
            rows,
            pa.array([version] * rows.num_rows, pa.int64()),
            pa.array([False] * rows.num_rows, pa.bool_()),
        )
        staged, _ = upsert.staging_frame(chunk, spec.natural_keys, first_seq=read)
        upsert.stage(conn, target, staged, settings.snowflake_stage_method)
        read += batch.num_rows
    counts = MergeCounts()
    if read:
        conn.autocommit(False)
        try:
            loaded_at = load_state.stamp(conn, state)
            counts = upsert.merge(conn, target, loaded_at=loaded_at)
            # the version stays; the compare-and-set fails if a load wrote meanwhile
            load_state.advance(
                conn,
                target.database,
                target.schema,
                started=state,
                to_version=state.version,
                loaded_at=loaded_at,
                inserted=counts.inserted,
                updated=counts.updated,
            )
            conn.commit()
        except load_state.StateConflict as conflict:
            conn.rollback()
            raise DateReloadError(
                _behind(spec, conflict.current.version, version)
                + " (it landed while the reload ran)"
            ) from None
        except BaseException:
            conn.rollback()
            raise
        finally:
            conn.autocommit(True)
    upsert.drop_staging(conn, target)
    return {"rows_read": read, "rows_inserted": counts.inserted, "rows_updated": counts.updated}


def _behind(spec: TableSpec, loaded: int | None, read: int) -> str:
    return (
        f"{spec.qualified_name}: a load has landed lake version {loaded}, newer than the "
        f"version {read} this reload read; nothing of this table was reloaded, rerun it"
    )


def _typed_bounds(dates: DateRange, kind: pa.DataType) -> tuple[datetime, datetime]:
    first, after = dates.bounds()
    if pa.types.is_timestamp(kind) and kind.tz is None:
        return first.replace(tzinfo=None), after.replace(tzinfo=None)
    return first, after
