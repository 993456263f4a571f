from __future__ import annotations

from datetime import UTC, datetime

import pyarrow as pa
import pytest

from loaders.delta_changes import ChangeChunk
from loaders.lake_to_snowflake import LoadError, LoadReport, TableLoad, select_tables
from loaders.upsert import IS_DELETE, STAGE_SEQ, Target, dedupe_latest, merge_sql, staging_frame
from loaders.warehouse_types import WarehouseColumn
from retail_lakehouse import tables

TARGET = Target(
    "LAKEHOUSE",
    "RETAIL",
    "SILVER_SALES_LINES",
    (
        WarehouseColumn("EVENT_ID", "VARCHAR"),
        WarehouseColumn("LINE_NUMBER", "NUMBER(38,0)"),
        WarehouseColumn("LINE_REVENUE", "NUMBER(12,2)"),
        WarehouseColumn("_LOADED_AT", "TIMESTAMP_NTZ"),
        WarehouseColumn("_DELTA_VERSION", "NUMBER(38,0)"),
    ),
    ("EVENT_ID", "LINE_NUMBER"),
)


def test_merge_sql_is_the_template_with_quoted_identifiers_and_bound_values():
    sql = " ".join(merge_sql(TARGET).split())
    assert sql.startswith('MERGE INTO "LAKEHOUSE"."RETAIL"."SILVER_SALES_LINES" AS t')
    # the session's own temporary staging table, never a name shared between loads
    assert 'FROM "_STAGE_SILVER_SALES_LINES"' in sql
    assert (
        'PARTITION BY "EVENT_ID", "LINE_NUMBER" ORDER BY "_DELTA_VERSION" DESC, '
        '"_STAGE_SEQ" DESC' in sql
    )
    assert 'ON t."EVENT_ID" = s."EVENT_ID" AND t."LINE_NUMBER" = s."LINE_NUMBER"' in sql
    # an older staged change never writes over a newer landed row, nor deletes it
    newer = 's."_DELTA_VERSION" >= COALESCE(t."_DELTA_VERSION", -1)'
    assert f'WHEN MATCHED AND s."_IS_DELETE" AND {newer} THEN DELETE' in sql
    assert (
        f'WHEN MATCHED AND NOT s."_IS_DELETE" AND {newer} AND '
        '(t."LINE_REVENUE" IS DISTINCT FROM s."LINE_REVENUE") THEN UPDATE' in sql
    )
    assert 'WHEN NOT MATCHED AND NOT s."_IS_DELETE" THEN INSERT' in sql
    # values are placeholders for the connector, never literals; comments are gone
    assert "%(loaded_at)s" in sql and '"_DELTA_VERSION" = s."_DELTA_VERSION"' in sql
    assert "--" not in sql and "$" not in sql


def test_dedupe_keeps_the_last_row_per_key_in_order():
    rows = pa.table({"K": [1, 2, 1, 3, 1], "V": ["a", "b", "c", "d", "e"]})
    kept, dropped = dedupe_latest(rows, ("K",))
    assert kept.to_pydict() == {"K": [2, 3, 1], "V": ["b", "d", "e"]}
    assert dropped == 2


def test_staging_frame_upper_cases_drops_the_zone_and_numbers_rows():
    moment = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
    rows = pa.table(
        {"event_id": ["x", "y"], "event_time": pa.array([moment] * 2, pa.timestamp("us", "UTC"))}
    )
    chunk = ChangeChunk(rows, pa.array([4, 5], pa.int64()), pa.array([False, True]))
    frame, dropped = staging_frame(chunk, ("event_id",), first_seq=10)
    assert dropped == 0
    assert frame.column_names == [
        "EVENT_ID", "EVENT_TIME", "_DELTA_VERSION", IS_DELETE, STAGE_SEQ
    ]  # fmt: skip
    assert frame.schema.field("EVENT_TIME").type == pa.timestamp("us")
    assert frame["EVENT_TIME"].to_pylist() == [moment.replace(tzinfo=None)] * 2
    assert frame["_DELTA_VERSION"].to_pylist() == [4, 5]
    assert frame[IS_DELETE].to_pylist() == [False, True]
    assert frame[STAGE_SEQ].to_pylist() == [10, 11]


def test_table_selection():
    assert select_tables(None) == list(tables.WAREHOUSE_TABLES)
    assert select_tables(["silver.sales_lines", "stores"]) == [
        tables.SILVER_SALES_LINES,
        tables.STORES,
    ]
    with pytest.raises(LoadError, match=r"bronze\.sales_transactions: not a warehouse table"):
        select_tables(["bronze.sales_transactions"])


def test_report_renders_versions_and_totals():
    report = LoadReport(
        [
            TableLoad("silver.sales_lines", "SILVER_SALES_LINES", None, 4, 10, 10, 0),
            TableLoad("gold.inventory_levels", "GOLD_INVENTORY_LEVELS", 2, 2),
            TableLoad("ops.stream_batches", "OPS_STREAM_BATCHES", None, None),
        ]
    )
    lines = report.render().splitlines()
    assert lines[0].split() == [
        "table", "inserted", "updated", "deleted", "delta", "version", "status"
    ]  # fmt: skip
    assert lines[2].split() == ["silver.sales_lines", "10", "0", "0", "-", "->", "4", "loaded"]
    assert lines[3].split() == [
        "gold.inventory_levels", "0", "0", "0", "2", "->", "2", "up", "to", "date"
    ]  # fmt: skip
    assert lines[4].split() == [
        "ops.stream_batches", "0", "0", "0", "-", "->", "-", "not", "in", "lake"
    ]  # fmt: skip
    assert lines[5].split() == ["total", "10", "0", "0"]
    assert report.to_dict()["rows_inserted"] == 10
