"""The dbt runner's settings plumbing and the dbt project's agreement with the catalog."""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import SecretStr

from loaders.kpi_models import DBT_PROJECT_DIR, dbt_arguments, dbt_environment
from retail_lakehouse import tables
from retail_lakehouse.settings import Settings


def _settings(**values: object) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def test_environment_comes_from_settings_and_secrets_travel_as_dbt_env_secrets() -> None:
    settings = _settings(
        snowflake_account="acme-xy123",
        snowflake_user="loader",
        snowflake_password=SecretStr("s3cret"),
        snowflake_schema="LANDED",
        snowflake_analytics_schema="MARTS",
    )
    env = dbt_environment(settings)
    assert env["SNOWFLAKE_ACCOUNT"] == "acme-xy123"
    # dbt scrubs DBT_ENV_SECRET_* from its logs; a plain SNOWFLAKE_PASSWORD it would not
    assert env["DBT_ENV_SECRET_SNOWFLAKE_PASSWORD"] == "s3cret"
    assert env["SNOWFLAKE_PASSWORD"] is None
    assert [k for k, v in env.items() if v == "s3cret"] == ["DBT_ENV_SECRET_SNOWFLAKE_PASSWORD"]
    assert env["SNOWFLAKE_SCHEMA"] == "LANDED"
    assert env["SNOWFLAKE_ANALYTICS_SCHEMA"] == "MARTS"
    assert env["SNOWFLAKE_HOST"] is None and env["SNOWFLAKE_ROLE"] is None


def test_key_pair_and_token_settings_reach_dbt_as_secrets(tmp_path: Path) -> None:
    key = tmp_path / "rsa_key.p8"
    key.write_text("-----BEGIN ENCRYPTED PRIVATE KEY-----\n")
    env = dbt_environment(
        _settings(
            snowflake_account="acme",
            snowflake_user="loader",
            snowflake_private_key_file=str(key),
            snowflake_private_key_passphrase=SecretStr("pp"),
        )
    )
    assert env["SNOWFLAKE_PRIVATE_KEY_FILE"] == str(key)
    assert env["DBT_ENV_SECRET_SNOWFLAKE_PRIVATE_KEY_PASSPHRASE"] == "pp"
    assert env["SNOWFLAKE_AUTHENTICATOR"] is None  # dbt hands the key to the connector
    assert env["DBT_ENV_SECRET_SNOWFLAKE_PASSWORD"] is None
    token = dbt_environment(
        _settings(
            snowflake_account="acme",
            snowflake_user="loader",
            snowflake_authenticator="PROGRAMMATIC_ACCESS_TOKEN",
            snowflake_token=SecretStr("pat-123"),
        )
    )
    assert token["SNOWFLAKE_AUTHENTICATOR"] == "programmatic_access_token"
    assert token["DBT_ENV_SECRET_SNOWFLAKE_TOKEN"] == "pat-123"


def test_emulators_get_placeholder_credentials_and_accounts_never_do() -> None:
    emulated = dbt_environment(_settings())
    assert emulated["SNOWFLAKE_ACCOUNT"] == "emulator"
    assert emulated["DBT_ENV_SECRET_SNOWFLAKE_PASSWORD"] == "emulator"
    server = dbt_environment(_settings(snowflake_host="127.0.0.1", snowflake_port=8123))
    assert (server["SNOWFLAKE_PORT"], server["SNOWFLAKE_PROTOCOL"]) == ("8123", "https")
    real = dbt_environment(_settings(snowflake_account="acme", snowflake_user="u"))
    assert real["DBT_ENV_SECRET_SNOWFLAKE_PASSWORD"] is None


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


def test_profiles_hold_no_secret_and_no_emulator_default() -> None:
    profiles = (DBT_PROJECT_DIR / "profiles.yml").read_text()
    [output] = yaml.safe_load(profiles)["retail_lakehouse"]["outputs"].values()
    for field in ("password", "private_key", "private_key_passphrase", "token"):
        assert output[field].startswith("{{ env_var('DBT_ENV_SECRET_SNOWFLAKE_"), field
    # what a real account must be told has no default to fall back on
    for field in ("account", "database", "schema"):
        assert output[field].count("env_var(") == 1 and "', '" not in output[field], field
    assert "emulator" not in profiles.split("retail_lakehouse:")[1]


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


def test_the_latency_unnesting_reaches_as_far_as_the_stream_samples() -> None:
    """int_latency_samples_unnested reads each batch's samples by position up to this
    var: were the stream to keep more, the marts' percentiles would silently drop some."""
    from spark_streaming.batch_metrics import LATENCY_SAMPLE_SIZE

    project = yaml.safe_load((DBT_PROJECT_DIR / "dbt_project.yml").read_text())
    assert project["vars"]["latency_samples_per_batch"] == LATENCY_SAMPLE_SIZE
