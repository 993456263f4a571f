from __future__ import annotations

import pyarrow as pa
import pytest

from loaders.identifiers import BadIdentifierError, qualified, quoted, validated
from loaders.warehouse_types import (
    UnsupportedTypeError,
    as_json_text,
    landed_columns,
    snowflake_type,
    type_family,
)


@pytest.mark.parametrize("name", ["sales_lines", "_LOADED_AT", "T1", "a$b"])
def test_plain_identifiers_are_upper_cased(name):
    assert validated(name) == name.upper()


@pytest.mark.parametrize(
    "name",
    ["", "1abc", "bad name", 'x"; DROP TABLE y; --', "a.b", "a-b", "é", "x" * 256, None],
)
def test_anything_else_is_refused(name):
    with pytest.raises(BadIdentifierError, match="refusing"):
        validated(name)  # type: ignore[arg-type]


def test_quoting_and_qualifying():
    assert quoted("silver_sales_lines") == '"SILVER_SALES_LINES"'
    assert qualified("lakehouse", "retail", "t") == '"LAKEHOUSE"."RETAIL"."T"'


@pytest.mark.parametrize(
    ("arrow_type", "sql"),
    [
        (pa.decimal128(12, 2), "NUMBER(12,2)"),
        (pa.decimal128(18, 2), "NUMBER(18,2)"),
        (pa.int32(), "NUMBER(38,0)"),
        (pa.int64(), "NUMBER(38,0)"),
        (pa.float64(), "FLOAT"),
        (pa.bool_(), "BOOLEAN"),
        (pa.string(), "VARCHAR"),
        (pa.large_string(), "VARCHAR"),
        (pa.timestamp("us"), "TIMESTAMP_NTZ"),
        (pa.timestamp("us", tz="UTC"), "TIMESTAMP_NTZ"),
        (pa.date32(), "DATE"),
        (pa.binary(), "BINARY"),
    ],
)
def test_lake_types_land_exactly(arrow_type, sql):
    assert snowflake_type(arrow_type) == sql


@pytest.mark.parametrize("arrow_type", [pa.timestamp("us", tz="Europe/Paris"), pa.duration("s")])
def test_types_without_an_exact_landing_are_refused(arrow_type):
    with pytest.raises(UnsupportedTypeError):
        snowflake_type(arrow_type)


@pytest.mark.parametrize(
    "arrow_type",
    [pa.list_(pa.int32()), pa.map_(pa.string(), pa.int64()), pa.struct([("a", pa.int32())])],
)
def test_nested_types_land_as_json_text(arrow_type):
    assert snowflake_type(arrow_type) == "VARCHAR"


def test_nested_values_become_json_objects_and_arrays():
    lists = pa.array([[1, 2], None], pa.list_(pa.int32()))
    maps = pa.array([[("wrong_type", 2)], None], pa.map_(pa.string(), pa.int64()))
    assert as_json_text(lists).to_pylist() == ["[1, 2]", None]
    assert as_json_text(maps).to_pylist() == ['{"wrong_type": 2}', None]


def test_landed_columns_add_the_two_loader_columns():
    schema = pa.schema([("event_id", pa.string()), ("line_revenue", pa.decimal128(12, 2))])
    assert [(c.name, c.sql_type) for c in landed_columns(schema)] == [
        ("EVENT_ID", "VARCHAR"),
        ("LINE_REVENUE", "NUMBER(12,2)"),
        ("_LOADED_AT", "TIMESTAMP_NTZ"),
        ("_DELTA_VERSION", "NUMBER(38,0)"),
    ]


@pytest.mark.parametrize(
    ("reported", "family"),
    [
        ("NUMBER(12,2)", "NUMBER(*,2)"),
        ("NUMBER(38,0)", "NUMBER(*,0)"),
        ("NUMBER", "NUMBER(*,0)"),
        ("TEXT", "VARCHAR"),
        ("VARCHAR(16777216)", "VARCHAR"),
        ("TIMESTAMP_NTZ(9)", "TIMESTAMP_NTZ"),
        ("DOUBLE", "FLOAT"),
        ("BOOLEAN", "BOOLEAN"),
    ],
)
def test_reported_types_compare_by_family(reported, family):
    assert type_family(reported) == family
