"""The warehouse side of a load: DDL, staging, the MERGE and the loader state.

All SQL here is built from identifiers that went through `identifiers.quoted`;
every value is a bound parameter.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from string import Template
from typing import TYPE_CHECKING, Any, Literal

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

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
# rows per INSERT statement when staging by bound inserts (statement size stays small)
INSERT_ROWS = 2_000

STATE_COLUMNS = (
    ("TABLE_NAME", "VARCHAR"),
    ("DELTA_VERSION", "NUMBER(38,0)"),
    ("ROWS_INSERTED", "NUMBER(38,0)"),
    ("ROWS_UPDATED", "NUMBER(38,0)"),
    ("LOADED_AT", "TIMESTAMP_NTZ"),
)


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
        return qualified(self.database, self.schema, self.staging_table)

    @property
    def data_columns(self) -> list[WarehouseColumn]:
        return [c for c in self.columns if c.name not in (LOADED_AT, DELTA_VERSION)]


def utc_now() -> datetime:
    """Naive UTC, as TIMESTAMP_NTZ holds it."""
    return datetime.now(UTC).replace(tzinfo=None)


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


def ensure_state_table(conn: SnowflakeConnection, database: str, schema: str) -> None:
    from retail_lakehouse.tables import LOADER_STATE_TABLE

    columns = ", ".join(f"{quoted(n)} {t}" for n, t in STATE_COLUMNS)
    execute(
        conn,
        f"CREATE TABLE IF NOT EXISTS {qualified(database, schema, LOADER_STATE_TABLE)} ({columns})",
    )


def ensure_table(conn: SnowflakeConnection, target: Target) -> None:
    columns = ", ".join(f"{quoted(c.name)} {c.sql_type}" for c in target.columns)
    execute(conn, f"CREATE TABLE IF NOT EXISTS {target.name} ({columns})")


def create_staging(conn: SnowflakeConnection, target: Target) -> None:
    """An empty transient staging table: the lake columns plus a sequence number."""
    columns = [f"{quoted(c.name)} {c.sql_type}" for c in target.data_columns]
    columns.append(f"{quoted(STAGE_SEQ)} NUMBER(38,0)")
    execute(conn, f"CREATE OR REPLACE TRANSIENT TABLE {target.staging} ({', '.join(columns)})")


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


def loaded_versions(conn: SnowflakeConnection, database: str, schema: str) -> dict[str, int]:
    from retail_lakehouse.tables import LOADER_STATE_TABLE

    rows = execute(
        conn,
        f'SELECT "TABLE_NAME", "DELTA_VERSION" FROM '  # noqa: S608 (quoted)
        f"{qualified(database, schema, LOADER_STATE_TABLE)}",
    )
    return {str(name): int(version) for name, version in rows if version is not None}


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


def staging_frame(rows: pa.Table, *, first_seq: int) -> pa.Table:
    """Upper-cased columns, UTC timestamps without zone, and the staging sequence."""
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
    arrays.append(pa.array(range(first_seq, first_seq + rows.num_rows), pa.int64()))
    names.append(STAGE_SEQ)
    return pa.Table.from_arrays(arrays, names=names)


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
            database=target.database,
            schema=target.schema,
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


# --- The MERGE and the state, in one transaction ----------------------------------


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


def merge(conn: SnowflakeConnection, target: Target, *, delta_version: int, loaded_at: datetime):
    """Run the MERGE (inside the caller's transaction); (inserted, updated)."""
    rows = execute(
        conn, merge_sql(target), {"loaded_at": loaded_at, "delta_version": delta_version}
    )
    if not rows:
        return 0, 0
    inserted, updated = rows[0][:2]
    return int(inserted or 0), int(updated or 0)


def record_state(
    conn: SnowflakeConnection,
    database: str,
    schema: str,
    *,
    table_name: str,
    delta_version: int,
    inserted: int,
    updated: int,
    loaded_at: datetime,
) -> None:
    from retail_lakehouse.tables import LOADER_STATE_TABLE

    state = qualified(database, schema, LOADER_STATE_TABLE)
    params = {
        "table_name": table_name,
        "delta_version": delta_version,
        "inserted": inserted,
        "updated": updated,
        "loaded_at": loaded_at,
    }
    execute(conn, f'DELETE FROM {state} WHERE "TABLE_NAME" = %(table_name)s', params)  # noqa: S608
    execute(
        conn,
        f"INSERT INTO {state} "  # noqa: S608 (quoted identifiers, bound values)
        '("TABLE_NAME", "DELTA_VERSION", "ROWS_INSERTED", "ROWS_UPDATED", "LOADED_AT") '
        "VALUES (%(table_name)s, %(delta_version)s, %(inserted)s, %(updated)s, %(loaded_at)s)",
        params,
    )
