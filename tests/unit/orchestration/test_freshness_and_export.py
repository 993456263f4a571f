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

from loaders.airflow_connection import settings_for_task
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
    assert result.p95_s == 38.5  # between the two oldest, as percentile_cont interpolates
    assert result.counted_sales_lines == 4
    assert freshness_of([], built).newest_s is None


def _connection(monkeypatch, tmp_path, **extra: object) -> None:
    """An Airflow connection `retail_snowflake` of the Snowflake provider's type, defined
    the way a deployment can (AIRFLOW_CONN_<ID> as JSON)."""
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path / "airflow_home"))
    monkeypatch.setenv(
        "AIRFLOW_CONN_RETAIL_SNOWFLAKE",
        json.dumps(
            {
                "conn_type": "snowflake",
                "login": "LOADER",
                "password": "key-passphrase-77",
                "schema": "LANDED",
                "extra": {"account": "xy12345", "warehouse": "LOAD_WH", "role": "LOADER", **extra},
            }
        ),
    )


def test_an_airflow_key_pair_connection_is_read_through_the_snowflake_hook(monkeypatch, tmp_path):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    key_file = tmp_path / "rsa_key.p8"
    key_file.write_bytes(
        private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"key-passphrase-77"),
        )
    )
    _connection(monkeypatch, tmp_path, private_key_file=str(key_file), analytics_schema="MARTS")
    settings = settings_for_task(Settings(_env_file=None, snowflake_user="env_user"))  # type: ignore[call-arg]
    assert (settings.snowflake_account, settings.snowflake_user) == ("xy12345", "LOADER")
    assert (settings.snowflake_schema, settings.snowflake_warehouse) == ("LANDED", "LOAD_WH")
    assert settings.snowflake_analytics_schema == "MARTS"
    # the hook decrypted the key with the connection's password: the password is not one
    assert settings.snowflake_password is None
    loaded = serialization.load_pem_private_key(
        settings.snowflake_private_key.get_secret_value().encode(), password=None
    )
    assert loaded.private_numbers() == private.private_numbers()
    from retail_lakehouse import warehouse

    params = warehouse.connection_params(settings)
    assert params["authenticator"] == "SNOWFLAKE_JWT" and "password" not in params
    for text in (repr(settings), str(settings.model_dump())):
        assert "key-passphrase-77" not in text and "PRIVATE KEY" not in text
    assert not settings.uses_warehouse_emulator


def test_an_airflow_password_connection_still_works(monkeypatch, tmp_path):
    _connection(monkeypatch, tmp_path)
    settings = settings_for_task(Settings(_env_file=None))  # type: ignore[call-arg]
    assert settings.snowflake_password.get_secret_value() == "key-passphrase-77"
    assert settings.snowflake_private_key is None
    assert "key-passphrase-77" not in repr(settings)


def test_without_an_airflow_connection_the_environment_is_used(monkeypatch, tmp_path):
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path / "airflow_home"))
    monkeypatch.delenv("AIRFLOW_CONN_RETAIL_SNOWFLAKE", raising=False)
    settings = Settings(_env_file=None, snowflake_user="env_user")  # type: ignore[call-arg]
    assert settings_for_task(settings) == settings
