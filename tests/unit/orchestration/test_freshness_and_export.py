"""The lake freshness check on real Delta tables, the CSV formatting, the KPI freshness
arithmetic and the Airflow-connection overlay; no services needed."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pandas as pd
import pyarrow as pa
import pytest
from deltalake import write_deltalake

from loaders.airflow_connection import settings_with_connection
from loaders.daily_export import format_daily_kpis
from loaders.freshness import (
    LakeMissingError,
    LakeStaleError,
    check_lake_freshness,
    last_commit_at,
    streaming_tables,
)
from loaders.kpi_freshness import freshness_of
from retail_lakehouse import lake, tables
from retail_lakehouse.contracts import FAMILIES
from retail_lakehouse.settings import Settings


def _write(settings: Settings, spec) -> None:
    write_deltalake(lake.uri(settings, spec), pa.table({"x": [1]}), mode="append")


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings(lake_root=str(tmp_path / "lake"))


def test_fresh_lake_reports_each_family_and_its_newest_table(settings):
    for family in FAMILIES:
        _write(settings, streaming_tables(family.name)[0])
    _write(settings, tables.SALES_BY_STORE_MINUTE)
    newest = last_commit_at(settings, tables.SALES_BY_STORE_MINUTE)
    result = check_lake_freshness(settings, 60, now=newest + timedelta(seconds=5))
    by_family = {f.family: f for f in result.families}
    assert set(by_family) == {f.name for f in FAMILIES}
    assert by_family["sales"].newest_table == "gold.sales_by_store_minute"
    assert by_family["sales"].age_s == pytest.approx(5.0)
    json.dumps(result.to_dict())  # what a DAG task hands to XCom


def test_stale_lake_names_the_stream_and_what_to_do(settings):
    for family in FAMILIES:
        _write(settings, streaming_tables(family.name)[0])
    later = datetime.now(UTC) + timedelta(hours=3)
    with pytest.raises(LakeStaleError, match=r"sales last committed 3\.0 h ago.*raise the allowed"):
        check_lake_freshness(settings, 3600, now=later)


def test_missing_stream_tables_are_named(settings):
    _write(settings, tables.SILVER_SALES_LINES)
    with pytest.raises(LakeMissingError, match=r"clickstream, inventory.*lakehouse stream"):
        check_lake_freshness(settings, 3600)


def test_streaming_tables_are_silver_and_gold_of_the_family():
    assert {s.qualified_name for s in streaming_tables("inventory")} == {
        "silver.inventory_changes",
        "silver.inventory_snapshots",
        "gold.inventory_levels",
    }


def test_csv_rows_are_formatted_exactly():
    frame = format_daily_kpis(
        [
            (date(2026, 3, 2), 3, 100.1 + 0.2, 33.43, 7, 812.25),
            (datetime(2026, 3, 3), 1, Decimal("5.5"), Decimal("5.5"), 2, None),
        ]
    )
    expected = pd.DataFrame(
        {
            "date": ["2026-03-02", "2026-03-03"],
            "orders": pd.array([3, 1], dtype="int64"),
            "revenue_usd": [Decimal("100.30"), Decimal("5.50")],
            "avg_order_value_usd": [Decimal("33.43"), Decimal("5.50")],
            "units": pd.array([7, 2], dtype="int64"),
            "streaming_latency_ms": [Decimal("812.3"), None],
        }
    )
    pd.testing.assert_frame_equal(frame, expected)
    assert list(frame.columns) == list(tables.AGGREGATES_DAILY_COLUMNS)


def test_kpi_freshness_is_build_end_minus_produce_time():
    built = datetime(2026, 3, 2, 12, 0, 0, tzinfo=UTC)
    produced = [built - timedelta(seconds=s) for s in (30, 10, 20, 40)]
    result = freshness_of(produced, built)
    assert (result.newest_s, result.p50_s, result.max_s) == (10.0, 25.0, 40.0)
    assert result.counted_sales_lines == 4
    assert freshness_of([], built).newest_s is None


class _Conn:
    conn_id = "retail_snowflake"
    host = None
    schema = "LANDED"
    login = "loader"
    password = "s3cret"
    port = None
    extra_dejson = {"account": "xy12345", "warehouse": "LOAD_WH", "role": "LOADER"}


def test_airflow_connection_overrides_the_environment_without_leaking_the_password():
    settings = settings_with_connection(Settings(snowflake_user="env_user"), _Conn())
    assert (settings.snowflake_account, settings.snowflake_user) == ("xy12345", "loader")
    assert (settings.snowflake_schema, settings.snowflake_warehouse) == ("LANDED", "LOAD_WH")
    assert settings.snowflake_password.get_secret_value() == "s3cret"
    assert "s3cret" not in repr(settings)
    assert not settings.uses_warehouse_emulator
