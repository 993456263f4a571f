"""The dbt runner's settings plumbing and the dbt project's agreement with the catalog."""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import SecretStr

from loaders.kpi_models import (
    DBT_PROJECT_DIR,
    dbt_arguments,
    dbt_environment,
    dbt_target,
)
from retail_lakehouse import tables
from retail_lakehouse.settings import Settings


def _settings(**values: object) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def test_environment_comes_from_settings_and_unsets_what_is_not_configured() -> None:
    settings = _settings(
        snowflake_account="acme-xy123",
        snowflake_user="loader",
        snowflake_password=SecretStr("s3cret"),
        snowflake_schema="LANDED",
        snowflake_analytics_schema="MARTS",
    )
    env = dbt_environment(settings)
    assert env["DBT_TARGET"] == "account"
    assert env["SNOWFLAKE_ACCOUNT"] == "acme-xy123"
    assert env["SNOWFLAKE_PASSWORD"] == "s3cret"
    assert env["SNOWFLAKE_SCHEMA"] == "LANDED"
    assert env["SNOWFLAKE_ANALYTICS_SCHEMA"] == "MARTS"
    assert env["SNOWFLAKE_HOST"] is None and env["SNOWFLAKE_ROLE"] is None


def test_a_server_without_an_account_uses_the_server_target() -> None:
    assert dbt_target(_settings(snowflake_host="127.0.0.1", snowflake_port=8123)) == "server"
    assert dbt_target(_settings()) == "account"  # the in-process emulator
    assert dbt_environment(_settings(snowflake_port=8123))["SNOWFLAKE_PORT"] == "8123"


def test_arguments_point_at_the_project_and_keep_artifacts_out_of_git(tmp_path: Path) -> None:
    args = dbt_arguments(
        _settings(dbt_artifacts_path=str(tmp_path)), select=["fct_daily_kpis+"], full_refresh=True
    )
    assert args[0] == "build"
    assert args[args.index("--project-dir") + 1] == str(DBT_PROJECT_DIR)
    assert args[args.index("--target-path") + 1] == str(tmp_path / "target")
    assert args[args.index("--log-path") + 1] == str(tmp_path / "logs")
    assert args[args.index("--select") + 1] == "fct_daily_kpis+"
    assert args[-1] == "--full-refresh"


def test_profiles_hold_no_secret() -> None:
    profiles = (DBT_PROJECT_DIR / "profiles.yml").read_text()
    assert "env_var('SNOWFLAKE_PASSWORD'" in profiles
    for output in yaml.safe_load(profiles)["retail_lakehouse"]["outputs"].values():
        assert output["password"].startswith("{{ env_var(")


def test_sources_declare_every_landed_table_once() -> None:
    sources = yaml.safe_load(
        (DBT_PROJECT_DIR / "models/staging/lake/_lake__sources.yml").read_text()
    )
    names = [t["name"].upper() for t in sources["sources"][0]["tables"]]
    expected = [spec.warehouse_name for spec in tables.WAREHOUSE_TABLES]
    assert sorted(names) == sorted([*expected, tables.LOADER_STATE_TABLE])


def test_every_mart_has_a_model_with_its_contract_columns_and_unit_tests() -> None:
    marts = DBT_PROJECT_DIR / "models/marts"
    for mart in tables.ALL_MARTS:
        spec = yaml.safe_load((marts / f"{mart.name}.yml").read_text())
        model = spec["models"][0]
        assert model["name"] == mart.name
        assert model["config"]["contract"]["enforced"] is True
        columns = [c["name"] for c in model["columns"]]
        assert [c for c in mart.columns if c not in columns] == []
        assert all("data_type" in c for c in model["columns"])
        assert any(t["model"] == mart.name for t in spec.get("unit_tests", [])), mart.name
        assert (marts / f"{mart.name}.sql").exists()
