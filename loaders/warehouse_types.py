"""How a Delta (Arrow) column lands in Snowflake, and whether a landed column still fits.

Money stays exact (Delta decimal(p, s) -> NUMBER(p, s), e.g. NUMBER(12,2)); integers are
NUMBER(38,0); timestamps are TIMESTAMP_NTZ holding UTC.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pyarrow as pa

# the loader's own columns on every landed table
LOADED_AT = "_LOADED_AT"
DELTA_VERSION = "_DELTA_VERSION"
LOADER_COLUMNS: dict[str, str] = {LOADED_AT: "TIMESTAMP_NTZ", DELTA_VERSION: "NUMBER(38,0)"}


class UnsupportedTypeError(TypeError):
    """A lake column whose type has no exact Snowflake counterpart here."""


@dataclass(frozen=True)
class WarehouseColumn:
    name: str  # UPPERCASE, as landed
    sql_type: str  # as written in CREATE TABLE

    @property
    def family(self) -> str:
        return type_family(self.sql_type)


def is_nested(arrow_type: pa.DataType) -> bool:
    return bool(
        pa.types.is_list(arrow_type)
        or pa.types.is_large_list(arrow_type)
        or pa.types.is_map(arrow_type)
        or pa.types.is_struct(arrow_type)
    )


def as_json_text(column: pa.Array | pa.ChunkedArray) -> pa.Array:
    """A list, map or struct column as JSON text (maps become objects), so it lands in a
    VARCHAR that Snowflake's PARSE_JSON reads, on the real warehouse and the emulator."""
    values = column.to_pylist()
    if pa.types.is_map(column.type):
        values = [None if v is None else dict(v) for v in values]
    return pa.array(
        [None if v is None else json.dumps(v, default=str, sort_keys=True) for v in values],
        pa.string(),
    )


def snowflake_type(arrow_type: pa.DataType) -> str:
    if is_nested(arrow_type):
        # JSON text: write_pandas and fakesnow both take it; PARSE_JSON gives a VARIANT
        return "VARCHAR"
    if pa.types.is_decimal(arrow_type):
        return f"NUMBER({arrow_type.precision},{arrow_type.scale})"
    if pa.types.is_integer(arrow_type):
        return "NUMBER(38,0)"
    if pa.types.is_floating(arrow_type):
        return "FLOAT"
    if pa.types.is_boolean(arrow_type):
        return "BOOLEAN"
    if pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type):
        return "VARCHAR"
    if pa.types.is_string_view(arrow_type):
        return "VARCHAR"
    if pa.types.is_timestamp(arrow_type):
        if arrow_type.tz not in (None, "UTC", "+00:00", "Etc/UTC"):
            raise UnsupportedTypeError(f"timestamp in zone {arrow_type.tz}")
        return "TIMESTAMP_NTZ"
    if pa.types.is_date(arrow_type):
        return "DATE"
    if pa.types.is_binary(arrow_type) or pa.types.is_large_binary(arrow_type):
        return "BINARY"
    raise UnsupportedTypeError(str(arrow_type))


def landed_columns(schema: pa.Schema) -> list[WarehouseColumn]:
    """The landed table's columns: the lake's, then the two loader columns."""
    columns = [WarehouseColumn(f.name.upper(), snowflake_type(f.type)) for f in schema]
    columns += [WarehouseColumn(name, sql) for name, sql in LOADER_COLUMNS.items()]
    return columns


def type_family(sql_type: str) -> str:
    """A comparable form of a Snowflake type as DESCRIBE/information_schema report it:
    NUMBER(p,s) keeps its scale (the part that decides exactness), text types collapse.
    """
    text = sql_type.upper().replace(" ", "")
    base, _, args = text.partition("(")
    args = args.rstrip(")")
    if base in ("NUMBER", "DECIMAL", "NUMERIC", "INT", "INTEGER", "BIGINT", "SMALLINT"):
        scale = args.split(",")[1] if "," in args else "0"
        return f"NUMBER(*,{scale})"
    if base in ("VARCHAR", "TEXT", "STRING", "CHAR", "CHARACTER"):
        return "VARCHAR"
    if base in ("FLOAT", "DOUBLE", "REAL", "FLOAT8", "FLOAT4", "DOUBLEPRECISION"):
        return "FLOAT"
    if base in ("TIMESTAMP_NTZ", "TIMESTAMP", "DATETIME", "TIMESTAMPNTZ"):
        return "TIMESTAMP_NTZ"
    if base in ("BINARY", "VARBINARY", "BLOB"):
        return "BINARY"
    return base
