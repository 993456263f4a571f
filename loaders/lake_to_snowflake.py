"""Upsert the lake into Snowflake, incrementally and exactly once per Delta version.

For each table of `tables.WAREHOUSE_TABLES`:
1. read the last loaded Delta version from LOADER_STATE (in the warehouse itself);
2. read what changed since then (the change data feed, `delta_changes`), or the whole
   table on a first load or a full refresh, in chunks; stage each chunk in a temporary
   table private to this load's session (DDL first: it auto-commits);
3. in one transaction: move LOADER_STATE from the version step 1 read to the new one
   (compare-and-set: a load that lost the race to another gets LoadConflictError and
   writes nothing), MERGE the staged changes (updates and deletes only where the staged
   version is not older than the landed row's; a full refresh first empties the table),
   then commit.

A crash before the commit leaves the previous version recorded and the landed table as it
was, so a rerun stages the same range again; a crash after it is a finished load.
Before anything is written, every landed table is checked against the lake schema.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from loaders import crash_drill, load_state, upsert
from loaders.delta_changes import (
    ChangesUnavailable,
    TableChanges,
    changes_since,
    open_table,
    snapshot_of,
    table_schema,
)
from loaders.identifiers import BadIdentifierError, validated
from loaders.load_report import LoadReport, TableLoad
from loaders.upsert import MergeCounts, Target
from loaders.warehouse_types import UnsupportedTypeError, landed_columns, type_family
from retail_lakehouse import warehouse
from retail_lakehouse.logs import kv
from retail_lakehouse.settings import Settings
from retail_lakehouse.tables import WAREHOUSE_TABLES, TableSpec, by_name

if TYPE_CHECKING:
    from deltalake import DeltaTable
    from snowflake.connector import SnowflakeConnection

log = logging.getLogger(__name__)

__all__ = ["LoadConflictError", "LoadError", "LoadReport", "TableLoad", "load_lake"]


class LoadError(RuntimeError):
    """A load that cannot go on; the message is one line saying what to do. `retryable`:
    the same load may succeed later (an unreachable warehouse, another load's race);
    otherwise it fails the same way until someone acts (credentials, schema drift)."""

    def __init__(self, message: str, *, retryable: bool = False) -> None:
        super().__init__(message)
        self.retryable = retryable


class LoadConflictError(LoadError):
    """Another load moved a table's LOADER_STATE while this one ran; this one wrote
    nothing to that table."""

    def __init__(self, message: str) -> None:
        super().__init__(message, retryable=True)


@dataclass(frozen=True)
class TablePlan:
    spec: TableSpec
    target: Target
    table: DeltaTable | None  # None: the lake has no such table yet
    landed: bool  # the landed table exists
    drifted: bool  # it exists with columns that no longer match the lake


def select_tables(names: Iterable[str] | None) -> list[TableSpec]:
    """The catalog's warehouse tables, or the named ones (qualified or short names)."""
    if not names:
        return list(WAREHOUSE_TABLES)
    chosen = []
    for name in names:
        try:
            spec = by_name(name)
        except KeyError:
            spec = None
        if spec is None or spec not in WAREHOUSE_TABLES:
            known = ", ".join(s.qualified_name for s in WAREHOUSE_TABLES)
            raise LoadError(f"{name}: not a warehouse table; choose from {known}")
        chosen.append(spec)
    return chosen


def load_lake(
    settings: Settings,
    *,
    tables: Iterable[str] | None = None,
    progress: bool = True,
    full_refresh: bool = False,
) -> LoadReport:
    """Bring every selected landed table up to its lake table's current Delta version;
    with `full_refresh`, replace each one whole from the lake (state reset included)."""
    from snowflake.connector import errors

    specs = select_tables(tables)
    database, schema = _landing(settings)
    report = LoadReport()
    with _connected(settings, specs) as conn:
        plans = _preflight(conn, settings, specs, database, schema, full_refresh)
        upsert.ensure_schema(conn, database, schema)
        load_state.ensure_state_table(conn, database, schema)
        for plan in plans:
            if plan.table is None:
                report.tables.append(
                    TableLoad(plan.spec.qualified_name, plan.target.table, None, None)
                )
                continue
            try:
                report.tables.append(
                    _load_table(conn, settings, plan, full_refresh=full_refresh, progress=progress)
                )
            except errors.Error as error:
                raise LoadError(
                    _statement_failure(plan.spec, report, error), retryable=True
                ) from None
    return report


def _statement_failure(spec: TableSpec, report: LoadReport, error: Any) -> str:
    """A SQL error during one table's load: that table was rolled back."""
    done = ", ".join(t.table for t in report.tables if t.status == "loaded") or "none"
    first_line = str(getattr(error, "msg", "") or type(error).__name__).splitlines()[0][:200]
    return (
        f"{spec.qualified_name}: Snowflake rejected the load (errno "
        f"{getattr(error, 'errno', None)}: {first_line}); this table was rolled back "
        f"(tables already committed: {done}); fix the cause and rerun `lakehouse load`"
    )


def _landing(settings: Settings) -> tuple[str, str]:
    try:
        return (
            validated(settings.snowflake_database, what="SNOWFLAKE_DATABASE"),
            validated(settings.snowflake_schema, what="SNOWFLAKE_SCHEMA"),
        )
    except BadIdentifierError as error:
        raise LoadError(f"{error}; fix it in the environment or .env") from None


@contextmanager
def _connected(settings: Settings, specs: list[TableSpec]) -> Iterator[SnowflakeConnection]:
    """A connection, with settings, login and network failures turned into one line."""
    from snowflake.connector import errors

    first = specs[0].qualified_name if specs else "(no table)"
    where = warehouse.describe(settings)
    with warehouse.emulated(settings):
        import snowflake.connector

        try:
            params = warehouse.connection_params(settings, schema=settings.snowflake_schema)
        except warehouse.WarehouseSettingsError as error:
            raise LoadError(f"{first}: not loaded: {error}") from None
        try:
            conn = snowflake.connector.connect(**params)
        except errors.Error as error:
            message, retryable = _connect_failure(first, where, error)
            raise LoadError(message, retryable=retryable) from None
        finally:
            del params  # holds the credentials
        try:
            yield conn
        finally:
            conn.close()


def _connect_failure(table: str, where: str, error: Any) -> tuple[str, bool]:
    """One line, and whether a retry may help; the connector's text is left out (it may
    echo connection details)."""
    errno = getattr(error, "errno", None)
    text = str(getattr(error, "msg", "") or "").lower()
    if errno in (390100, 390101, 390144, 250001) and (
        "password" in text or "authenticat" in text or errno != 250001
    ):
        return (
            f"{table}: not loaded, login to {where} failed (rejected credentials); "
            "check SNOWFLAKE_USER and SNOWFLAKE_PRIVATE_KEY_FILE / SNOWFLAKE_TOKEN / "
            "SNOWFLAKE_PASSWORD"
        ), False
    return (
        f"{table}: not loaded, cannot reach {where} (errno {errno}); check "
        "SNOWFLAKE_ACCOUNT / SNOWFLAKE_HOST and the network, then rerun `lakehouse load`"
    ), True


def _preflight(
    conn: SnowflakeConnection,
    settings: Settings,
    specs: list[TableSpec],
    database: str,
    schema: str,
    full_refresh: bool,
) -> list[TablePlan]:
    """Every table's landing plan, or a LoadError before anything is written."""
    existing = upsert.landed_columns(conn, database, schema)
    plans: list[TablePlan] = []
    for spec in specs:
        table = open_table(settings, spec)
        name = validated(spec.warehouse_name, what="table name")
        landed = existing.get(name)
        if table is None:
            target = Target(database, schema, name, (), ())
            plans.append(TablePlan(spec, target, None, landed is not None, False))
            continue
        try:
            schema_ = table_schema(table)
            for lake_field in schema_:
                validated(lake_field.name, what="lake column")
            columns = tuple(landed_columns(schema_))
            keys = tuple(validated(k, what="key column") for k in spec.natural_keys)
        except (BadIdentifierError, UnsupportedTypeError) as error:
            raise LoadError(
                f"{spec.qualified_name}: cannot land in Snowflake: {error}; nothing was loaded"
            ) from None
        target = Target(database, schema, name, columns, keys)
        problem = _schema_difference(columns, landed) if landed is not None else None
        if problem and not full_refresh:
            raise LoadError(
                f"{spec.qualified_name}: {database}.{schema}.{name} does not match the lake "
                f"({problem}); reload it whole with `lakehouse load --full-refresh --table "
                f"{spec.qualified_name}` (or alter the table), then rerun. Nothing was loaded"
            )
        plans.append(TablePlan(spec, target, table, landed is not None, bool(problem)))
    return plans


def _schema_difference(expected: Iterable[Any], landed: list[tuple[str, str]]) -> str | None:
    have = {name: type_family(sql_type) for name, sql_type in landed}
    want = {c.name: c.family for c in expected}
    missing = [n for n in want if n not in have]
    if missing:
        return f"missing column(s) {', '.join(missing)}"
    extra = [n for n in have if n not in want]
    if extra:
        return f"column(s) {', '.join(extra)} are not in the lake"
    wrong = [f"{n} is {have[n]}, lake needs {want[n]}" for n in want if have[n] != want[n]]
    return "; ".join(wrong) or None


def _load_table(
    conn: SnowflakeConnection,
    settings: Settings,
    plan: TablePlan,
    *,
    full_refresh: bool,
    progress: bool,
) -> TableLoad:
    spec, target, table = plan.spec, plan.target, plan.table
    assert table is not None
    name = spec.qualified_name
    started = time.perf_counter()
    load_state.ensure_state_row(conn, target.database, target.schema, name)
    state = load_state.read_state(conn, target.database, target.schema, name)
    if plan.drifted:
        # DDL commits by itself, so reset the state first, in its own transaction: a
        # crash between the two leaves a table that the next load reloads whole
        state = _reset_state(conn, target, state)
        upsert.recreate_table(conn, target)
    else:
        upsert.ensure_table(conn, target)
    from_version = state.version
    # a landed table dropped by hand is reloaded whole, whatever its state says
    whole = full_refresh or plan.drifted or (from_version is not None and not plan.landed)
    changes = (
        snapshot_of(spec, table, from_version)
        if whole
        else changes_since(spec, table, from_version)
    )
    if changes.is_up_to_date:
        log.info(kv("load_up_to_date", table=name, version=changes.to_version))
        return TableLoad(name, target.table, from_version, changes.to_version)
    try:
        read, dropped = _stage_changes(conn, settings, target, changes, progress)
    except ChangesUnavailable:
        whole, changes = True, snapshot_of(spec, table, from_version)
        read, dropped = _stage_changes(conn, settings, target, changes, progress)
    crash_drill.maybe_crash("stage", name)
    counts = _commit(conn, target, state, changes, read)
    upsert.drop_staging(conn, target)
    result = TableLoad(
        name,
        target.table,
        changes.from_version,
        changes.to_version,
        rows_read=read,
        rows_inserted=counts.inserted,
        rows_updated=counts.updated,
        duplicates_dropped=dropped,
        seconds=round(time.perf_counter() - started, 3),
        rows_deleted=counts.deleted,
        full_refresh=whole,
    )
    log.info(kv("table_loaded", **{k: v for k, v in asdict(result).items()}))
    return result


def _commit(
    conn: SnowflakeConnection,
    target: Target,
    state: load_state.State,
    changes: TableChanges,
    read: int,
) -> MergeCounts:
    """The one transaction: merge (or replace) the staged rows, then move the state on
    from what this load started at, or roll everything back."""
    conn.autocommit(False)
    try:
        loaded_at = load_state.stamp(conn, state)
        if changes.mode == "snapshot":
            counts = upsert.replace_all(conn, target, loaded_at=loaded_at)
        else:
            counts = upsert.merge(conn, target, loaded_at=loaded_at) if read else MergeCounts()
        load_state.advance(
            conn,
            target.database,
            target.schema,
            started=state,
            to_version=changes.to_version,
            loaded_at=loaded_at,
            inserted=counts.inserted,
            updated=counts.updated,
        )
        crash_drill.maybe_crash("merge", state.table_name)
        conn.commit()
    except load_state.StateConflict as conflict:
        conn.rollback()
        raise LoadConflictError(_conflict_message(conflict)) from None
    except BaseException:
        conn.rollback()
        raise
    finally:
        conn.autocommit(True)
    return counts


def _reset_state(
    conn: SnowflakeConnection, target: Target, state: load_state.State
) -> load_state.State:
    """State back to 'nothing loaded' (compare-and-set, committed on its own)."""
    conn.autocommit(False)
    try:
        loaded_at = load_state.stamp(conn, state)
        load_state.advance(
            conn,
            target.database,
            target.schema,
            started=state,
            to_version=None,
            loaded_at=loaded_at,
        )
        conn.commit()
    except load_state.StateConflict as conflict:
        conn.rollback()
        raise LoadConflictError(_conflict_message(conflict)) from None
    except BaseException:
        conn.rollback()
        raise
    finally:
        conn.autocommit(True)
    log.info(kv("loader_state_reset", table=state.table_name, was=state.version))
    return load_state.State(state.table_name, None, loaded_at)


def _conflict_message(conflict: load_state.StateConflict) -> str:
    started, current = conflict.started, conflict.current
    return (
        f"{started.table_name}: another load or reload wrote this table while this one "
        f"ran (LOADER_STATE moved from version {_v(started.version)} to "
        f"{_v(current.version)}), so this load wrote nothing to it; rerun `lakehouse load` "
        "to continue from there"
    )


def _v(version: int | None) -> str:
    return "none" if version is None else str(version)


def _stage_changes(
    conn: SnowflakeConnection,
    settings: Settings,
    target: Target,
    changes: TableChanges,
    progress: bool,
) -> tuple[int, int]:
    """Stage every changed row, chunk by chunk; (rows staged, duplicate rows dropped)."""
    from tqdm import tqdm

    upsert.create_staging(conn, target)
    staged = dropped = 0
    with tqdm(
        desc=changes.spec.qualified_name,
        unit="row",
        disable=not progress,
        file=sys.stderr,
        leave=False,
    ) as bar:
        for chunk in changes.chunks(settings.loader_chunk_rows):
            rows, duplicates = upsert.staging_frame(
                chunk, changes.spec.natural_keys, first_seq=staged
            )
            upsert.stage(conn, target, rows, settings.snowflake_stage_method)
            staged += chunk.num_rows
            dropped += duplicates
            bar.update(chunk.num_rows)
    return staged, dropped
