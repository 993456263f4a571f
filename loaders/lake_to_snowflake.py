"""Upsert the lake into Snowflake, incrementally and exactly once per Delta version.

For each table of `tables.WAREHOUSE_TABLES`:
1. read the last loaded Delta version from LOADER_STATE (in the warehouse itself);
2. stream the data files added since then in chunks, de-duplicate each chunk on the
   natural key and stage it in a transient table (DDL first: it auto-commits);
3. in one transaction, MERGE the staged rows into the landed table and record the new
   Delta version in LOADER_STATE, then commit.

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
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from loaders import crash_drill, upsert
from loaders.delta_changes import TableChanges, changes_since, open_table, table_schema
from loaders.identifiers import BadIdentifierError, validated
from loaders.upsert import Target
from loaders.warehouse_types import UnsupportedTypeError, landed_columns, type_family
from retail_lakehouse import warehouse
from retail_lakehouse.logs import kv
from retail_lakehouse.settings import Settings
from retail_lakehouse.tables import WAREHOUSE_TABLES, TableSpec, by_name

if TYPE_CHECKING:
    from snowflake.connector import SnowflakeConnection

log = logging.getLogger(__name__)


class LoadError(RuntimeError):
    """A load that cannot go on; the message is one line saying what to do."""


@dataclass(frozen=True)
class TableLoad:
    table: str  # the lake's qualified name, e.g. silver.sales_lines
    warehouse_table: str
    from_version: int | None
    to_version: int | None  # None: the lake has no such table yet
    rows_read: int = 0
    rows_inserted: int = 0
    rows_updated: int = 0
    duplicates_dropped: int = 0
    seconds: float = 0.0

    @property
    def status(self) -> str:
        if self.to_version is None:
            return "not in lake"
        if self.from_version == self.to_version:
            return "up to date"
        return "loaded"


@dataclass
class LoadReport:
    tables: list[TableLoad] = field(default_factory=list)

    @property
    def rows_inserted(self) -> int:
        return sum(t.rows_inserted for t in self.tables)

    @property
    def rows_updated(self) -> int:
        return sum(t.rows_updated for t in self.tables)

    def to_dict(self) -> dict[str, Any]:
        return {
            "rows_inserted": self.rows_inserted,
            "rows_updated": self.rows_updated,
            "tables": [asdict(t) | {"status": t.status} for t in self.tables],
        }

    def render(self) -> str:
        """A fixed-width table for the terminal."""
        header = ("table", "inserted", "updated", "delta version", "status")
        rows = [
            (
                t.table,
                str(t.rows_inserted),
                str(t.rows_updated),
                f"{_v(t.from_version)} -> {_v(t.to_version)}",
                t.status,
            )
            for t in self.tables
        ]
        rows.append(("total", str(self.rows_inserted), str(self.rows_updated), "", ""))
        widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
        lines = [
            "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows
        ]
        head = "  ".join(c.ljust(w) for c, w in zip(header, widths, strict=True)).rstrip()
        return "\n".join([head, "-" * len(head), *lines]).rstrip()


def _v(version: int | None) -> str:
    return "-" if version is None else str(version)


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
    settings: Settings, *, tables: Iterable[str] | None = None, progress: bool = True
) -> LoadReport:
    """Bring every selected landed table up to its lake table's current Delta version."""
    from snowflake.connector import errors

    specs = select_tables(tables)
    database, schema = _landing(settings)
    report = LoadReport()
    with _connected(settings, specs) as conn:
        plans = _preflight(conn, settings, specs, database, schema)
        upsert.ensure_schema(conn, database, schema)
        upsert.ensure_state_table(conn, database, schema)
        versions = upsert.loaded_versions(conn, database, schema)
        for spec, target, table in plans:
            if table is None:
                report.tables.append(TableLoad(spec.qualified_name, target.table, None, None))
                continue
            changes = changes_since(settings, spec, table, versions.get(spec.qualified_name))
            try:
                upsert.ensure_table(conn, target)
                report.tables.append(_load_table(conn, settings, target, changes, progress))
            except errors.Error as error:
                raise LoadError(_statement_failure(spec, report, error)) from None
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
    """A connection, with login and network failures turned into one clear line."""
    from snowflake.connector import errors

    first = specs[0].qualified_name if specs else "(no table)"
    where = warehouse.describe(settings)
    with warehouse.emulated(settings):
        import snowflake.connector

        params = warehouse.connection_params(settings, schema=settings.snowflake_schema)
        try:
            conn = snowflake.connector.connect(**params)
        except errors.Error as error:
            raise LoadError(_connect_failure(first, where, error)) from None
        finally:
            del params  # holds the password
        try:
            yield conn
        finally:
            conn.close()


def _connect_failure(table: str, where: str, error: Any) -> str:
    """One line; the connector's text is left out (it may echo connection details)."""
    errno = getattr(error, "errno", None)
    text = str(getattr(error, "msg", "") or "").lower()
    if errno in (390100, 390101, 390144, 250001) and (
        "password" in text or "authenticat" in text or errno != 250001
    ):
        return (
            f"{table}: not loaded, login to {where} failed (bad user or password); "
            "check SNOWFLAKE_USER and SNOWFLAKE_PASSWORD"
        )
    return (
        f"{table}: not loaded, cannot reach {where} (errno {errno}); check "
        "SNOWFLAKE_ACCOUNT / SNOWFLAKE_HOST and the network, then rerun `lakehouse load`"
    )


def _preflight(
    conn: SnowflakeConnection,
    settings: Settings,
    specs: list[TableSpec],
    database: str,
    schema: str,
) -> list[tuple[TableSpec, Target, Any]]:
    """Every table's landing plan, or a LoadError before anything is written."""
    existing = upsert.landed_columns(conn, database, schema)
    plans: list[tuple[TableSpec, Target, Any]] = []
    for spec in specs:
        table = open_table(settings, spec)
        name = validated(spec.warehouse_name, what="table name")
        if table is None:
            plans.append((spec, Target(database, schema, name, (), ()), None))
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
        landed = existing.get(name)
        if landed is not None:
            problem = _schema_difference(columns, landed)
            if problem:
                raise LoadError(
                    f"{spec.qualified_name}: {database}.{schema}.{name} does not match the lake "
                    f"({problem}); alter that table or drop it to reload it whole, then rerun. "
                    "Nothing was loaded"
                )
        plans.append((spec, target, table))
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
    target: Target,
    changes: TableChanges,
    progress: bool,
) -> TableLoad:
    name = changes.spec.qualified_name
    started = time.perf_counter()
    if changes.from_version == changes.to_version:
        log.info(kv("load_up_to_date", table=name, version=changes.to_version))
        return TableLoad(name, target.table, changes.from_version, changes.to_version)
    read, dropped = _stage_changes(conn, settings, target, changes, progress)
    crash_drill.maybe_crash("stage", name)
    loaded_at = upsert.utc_now()
    conn.autocommit(False)
    try:
        inserted, updated = (
            upsert.merge(conn, target, delta_version=changes.to_version, loaded_at=loaded_at)
            if read
            else (0, 0)
        )
        upsert.record_state(
            conn,
            target.database,
            target.schema,
            table_name=name,
            delta_version=changes.to_version,
            inserted=inserted,
            updated=updated,
            loaded_at=loaded_at,
        )
        crash_drill.maybe_crash("merge", name)
        conn.commit()
    except BaseException:
        conn.rollback()
        raise
    finally:
        conn.autocommit(True)
    upsert.drop_staging(conn, target)
    result = TableLoad(
        name,
        target.table,
        changes.from_version,
        changes.to_version,
        rows_read=read,
        rows_inserted=inserted,
        rows_updated=updated,
        duplicates_dropped=dropped,
        seconds=round(time.perf_counter() - started, 3),
    )
    log.info(kv("table_loaded", **{k: v for k, v in asdict(result).items()}))
    return result


def _stage_changes(
    conn: SnowflakeConnection,
    settings: Settings,
    target: Target,
    changes: TableChanges,
    progress: bool,
) -> tuple[int, int]:
    """Stage every changed row, chunk by chunk; (rows read, duplicate rows dropped)."""
    from tqdm import tqdm

    upsert.create_staging(conn, target)
    read = dropped = 0
    with tqdm(
        total=changes.rows,
        desc=changes.spec.qualified_name,
        unit="row",
        disable=not progress,
        file=sys.stderr,
        leave=False,
    ) as bar:
        for batch in changes.chunks(settings.loader_chunk_rows):
            frame = upsert.staging_frame(pa.Table.from_batches([batch]), first_seq=read)
            rows, duplicates = upsert.dedupe_latest(frame, target.keys)
            upsert.stage(conn, target, rows, settings.snowflake_stage_method)
            read += batch.num_rows
            dropped += duplicates
            bar.update(batch.num_rows)
    return read, dropped
