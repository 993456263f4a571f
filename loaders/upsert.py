"""The warehouse side of a load: DDL, staging and the MERGE.

All SQL here is built from identifiers that went through `identifiers.quoted`;
every value is a bound parameter. The staging table is TEMPORARY: private to the load's
own session (two loads at once never see each other's staged rows) and gone with the
session, also when the process dies.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from string import Template
from typing import TYPE_CHECKING, Any, Literal

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from loaders.delta_changes import ChangeChunk
from loaders.identifiers import qualified, quoted
from loaders.warehouse_types import (
    DELTA_VERSION,
    LOADED_AT,
    WarehouseColumn,
    as_json_text,
    is_nested,
)

if TYPE_CHECKING:
    from snowflake.connector import SnowflakeConnection

StageMethod = Literal["write_pandas", "insert"]

UPSERT_TEMPLATE = Path(__file__).with_name("snowflake_upsert.sql")
STAGE_SEQ = "_STAGE_SEQ"
IS_DELETE = "_IS_DELETE"
# rows per INSERT statement when staging by bound inserts (statement size stays small)
INSERT_ROWS = 2_000


@dataclass(frozen=True)
class Target:
    """Where one lake table lands: database, schema, table, its columns and keys."""

    database: str
    schema: str
    table: str
    columns: tuple[WarehouseColumn, ...]  # lake columns then the two loader columns
    keys: tuple[str, ...]

    @property
    def name(self) -> str:
        return qualified(self.database, self.schema, self.table)

    @property
    def staging_table(self) -> str:
        return f"_STAGE_{self.table}"

    @property
    def staging(self) -> str:
        # a temporary table lives in the session's current schema (the landing schema);
        # the emulator refuses a schema-qualified TEMPORARY name, Snowflake takes both
        return quoted(self.staging_table)

    @property
    def data_columns(self) -> list[WarehouseColumn]:
        return [c for c in self.columns if c.name not in (LOADED_AT, DELTA_VERSION)]


def execute(conn: SnowflakeConnection, sql: str, params: Any = None) -> list[tuple]:
    with conn.cursor() as cursor:
        cursor.execute(sql, params)
        try:
            return list(cursor.fetchall())
        except Exception:  # statements without a result set
            return []


# --- DDL (auto-commits in Snowflake: run before a transaction, never inside one) ------


def ensure_schema(conn: SnowflakeConnection, database: str, schema: str) -> None:
    execute(conn, f"CREATE SCHEMA IF NOT EXISTS {qualified(database, schema)}")
    # temporary staging tables land in the current schema: make sure it is this one
    execute(conn, f"USE SCHEMA {qualified(database, schema)}")


def ensure_table(conn: SnowflakeConnection, target: Target) -> None:
    execute(conn, f"CREATE TABLE IF NOT EXISTS {target.name} ({_column_list(target.columns)})")


def recreate_table(conn: SnowflakeConnection, target: Target) -> None:
    """Drop and create the landed table with the lake's columns (a full refresh of a
    table whose columns no longer match). DDL: it commits by itself."""
    execute(conn, f"DROP TABLE IF EXISTS {target.name}")
    execute(conn, f"CREATE TABLE {target.name} ({_column_list(target.columns)})")


def _column_list(columns: tuple[WarehouseColumn, ...] | list[WarehouseColumn]) -> str:
    return ", ".join(f"{quoted(c.name)} {c.sql_type}" for c in columns)


def create_staging(conn: SnowflakeConnection, target: Target) -> None:
    """An empty temporary staging table: the lake columns, the version each row is as
    of, whether it is a delete, and a sequence number (the staging order)."""
    columns = [f"{quoted(c.name)} {c.sql_type}" for c in target.data_columns]
    columns += [
        f"{quoted(DELTA_VERSION)} NUMBER(38,0)",
        f"{quoted(IS_DELETE)} BOOLEAN",
        f"{quoted(STAGE_SEQ)} NUMBER(38,0)",
    ]
    execute(conn, f"CREATE OR REPLACE TEMPORARY TABLE {target.staging} ({', '.join(columns)})")


def drop_staging(conn: SnowflakeConnection, target: Target) -> None:
    execute(conn, f"DROP TABLE IF EXISTS {target.staging}")


# --- What is already there ---------------------------------------------------------


def landed_columns(
    conn: SnowflakeConnection, database: str, schema: str
) -> dict[str, list[tuple[str, str]]]:
    """table -> [(column, type family input)] for every table in the landing schema."""
    info = f"{quoted(database)}.INFORMATION_SCHEMA.COLUMNS"
    rows = execute(
        conn,
        "SELECT TABLE_NAME, COLUMN_NAME, DATA_TYPE, NUMERIC_SCALE "  # noqa: S608 (quoted)
        f"FROM {info} WHERE TABLE_SCHEMA = %(schema)s ORDER BY TABLE_NAME, ORDINAL_POSITION",
        {"schema": schema.upper()},
    )
    found: dict[str, list[tuple[str, str]]] = {}
    for table, column, data_type, scale in rows:
        sql_type = f"{data_type}(38,{int(scale)})" if scale is not None else str(data_type)
        found.setdefault(str(table).upper(), []).append((str(column).upper(), sql_type))
    return found


# --- Staging -----------------------------------------------------------------------


def dedupe_latest(rows: pa.Table, keys: tuple[str, ...]) -> tuple[pa.Table, int]:
    """One row per natural key, the last (newest) one, in the original order; and how
    many rows that dropped."""
    if not keys or rows.num_rows == 0:
        return rows, 0
    positions = pa.array(range(rows.num_rows), pa.int64())
    last = (
        rows.select(list(keys))
        .append_column("_pos", positions)
        .group_by(list(keys), use_threads=False)
        .aggregate([("_pos", "max")])
        .column("_pos_max")
    )
    kept = rows.take(pc.take(last, pc.sort_indices(last)))
    return kept, rows.num_rows - kept.num_rows


def staging_frame(
    chunk: ChangeChunk, keys: tuple[str, ...], *, first_seq: int
) -> tuple[pa.Table, int]:
    """The chunk as staged, and how many duplicate-key rows that dropped: one row per
    key (the last), upper-cased lake columns, UTC timestamps without zone, nested values
    as JSON text, then the version, the delete flag and the staging sequence."""
    rows = (
        chunk.rows.append_column(DELTA_VERSION, chunk.versions)
        .append_column(IS_DELETE, chunk.deletes)
        .append_column(STAGE_SEQ, pa.array(range(first_seq, first_seq + chunk.num_rows)))
    )
    rows, dropped = dedupe_latest(rows, keys)
    arrays, names = [], []
    for field, column in zip(rows.schema, rows.columns, strict=True):
        if pa.types.is_timestamp(field.type) and field.type.tz is not None:
            column = column.cast(pa.timestamp(field.type.unit))
        if pa.types.is_string_view(field.type):
            column = column.cast(pa.string())
        if is_nested(field.type):
            column = as_json_text(column)
        arrays.append(column)
        names.append(field.name.upper())
    return pa.Table.from_arrays(arrays, names=names), dropped


def stage(conn: SnowflakeConnection, target: Target, rows: pa.Table, method: StageMethod) -> None:
    if rows.num_rows == 0:
        return
    if method == "write_pandas":
        # through the module, at call time: fakesnow patches that attribute
        pandas_tools = importlib.import_module("snowflake.connector.pandas_tools")
        frame = rows.to_pandas(types_mapper=pd.ArrowDtype)
        ok, _chunks, _rows, *_ = pandas_tools.write_pandas(
            conn,
            frame,
            target.staging_table,
            quote_identifiers=True,
            use_logical_type=True,
        )
        if not ok:
            raise RuntimeError(f"write_pandas into {target.staging} did not succeed")
        return
    columns = ", ".join(quoted(name) for name in rows.column_names)
    marks = ", ".join(["%s"] * rows.num_columns)
    sql = f"INSERT INTO {target.staging} ({columns}) VALUES ({marks})"  # noqa: S608 (quoted)
    with conn.cursor() as cursor:
        for start in range(0, rows.num_rows, INSERT_ROWS):
            part = rows.slice(start, INSERT_ROWS)
            values = list(zip(*(c.to_pylist() for c in part.columns), strict=True))
            cursor.executemany(sql, values)


# --- The MERGE (inside the caller's transaction) ----------------------------------


@dataclass(frozen=True)
class MergeCounts:
    inserted: int = 0
    updated: int = 0
    deleted: int = 0


def merge_sql(target: Target) -> str:
    """snowflake_upsert.sql filled in with this target's quoted identifiers."""
    data = [quoted(c.name) for c in target.data_columns]
    keys = {k.upper() for k in target.keys}
    values = [quoted(c.name) for c in target.data_columns if c.name not in keys]
    if not keys or not values:
        raise ValueError(f"{target.name} needs natural keys and at least one other column")
    key_cols = [quoted(k) for k in target.keys]
    template = "\n".join(
        line for line in UPSERT_TEMPLATE.read_text().splitlines() if not line.startswith("--")
    )
    return (
        Template(template)
        .substitute(
            target=target.name,
            staging=target.staging,
            source_columns=", ".join(data),
            key_columns=", ".join(key_cols),
            key_match=" AND ".join(f"t.{k} = s.{k}" for k in key_cols),
            changed=" OR ".join(f"t.{c} IS DISTINCT FROM s.{c}" for c in values),
            updates=", ".join(f"{c} = s.{c}" for c in values),
            insert_columns=", ".join(data),
            insert_values=", ".join(f"s.{c}" for c in data),
        )
        .strip()
    )


def merge(conn: SnowflakeConnection, target: Target, *, loaded_at: datetime) -> MergeCounts:
    """Run the MERGE; Snowflake answers with one row of counts, named by what they count."""
    with conn.cursor() as cursor:
        cursor.execute(merge_sql(target), {"loaded_at": loaded_at})
        row = cursor.fetchone()
        names = [str(d[0]).lower() for d in cursor.description or ()]
    if not row:
        return MergeCounts()
    counts = dict(zip(names, row, strict=False))

    def count(kind: str, position: int) -> int:
        value = counts.get(f"number of rows {kind}")
        if value is None and len(row) > position:
            value = row[position]
        return int(value or 0)

    return MergeCounts(count("inserted", 0), count("updated", 1), count("deleted", 2))


def replace_all(conn: SnowflakeConnection, target: Target, *, loaded_at: datetime) -> MergeCounts:
    """Inside the caller's transaction: empty the landed table and insert the staged
    snapshot (newest row per key), so rows the lake no longer has go too. Plain DELETE
    and INSERT, no MERGE: the emulator would commit the DELETE when a MERGE starts."""
    data = ", ".join(quoted(c.name) for c in target.data_columns)
    keys = ", ".join(quoted(k) for k in target.keys)
    with conn.cursor() as cursor:
        cursor.execute(f"DELETE FROM {target.name}")  # noqa: S608 (quoted identifiers)
        deleted = int(cursor.rowcount or 0)
        cursor.execute(
            f'INSERT INTO {target.name} ({data}, "_LOADED_AT", "_DELTA_VERSION") '  # noqa: S608
            f'SELECT {data}, %(loaded_at)s, "_DELTA_VERSION" FROM {target.staging} '
            f'WHERE NOT "_IS_DELETE" QUALIFY ROW_NUMBER() OVER (PARTITION BY {keys} '
            'ORDER BY "_DELTA_VERSION" DESC, "_STAGE_SEQ" DESC) = 1',
            {"loaded_at": loaded_at},
        )
        inserted = int(cursor.rowcount or 0)
    return MergeCounts(inserted=inserted, deleted=deleted)
