"""Settings read from the environment: an empty variable is an unset one, except text."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from retail_lakehouse.settings import Settings


def test_an_empty_variable_leaves_a_typed_setting_at_its_default(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in (
        "SPARK_CODEGEN",
        "SPARK_SHUFFLE_PARTITIONS",
        "GENERATED_RATE",
        "KAFKA_SOURCE",
        "MAX_OFFSETS_PER_TRIGGER",
        "SNOWFLAKE_PORT",
    ):
        monkeypatch.setenv(name, "")
    settings = Settings(_env_file=None)
    defaults = Settings.model_construct()
    assert settings.spark_codegen is True
    assert settings.spark_shuffle_partitions is None
    assert settings.generated_rate == defaults.generated_rate == 1000.0
    assert settings.kafka_source == "kafka"
    assert settings.max_offsets_per_trigger == 100_000
    assert settings.snowflake_port is None


def test_an_empty_text_setting_stays_empty(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("S3_BUCKET", "shop")
    monkeypatch.setenv("S3_PREFIX", "")
    assert Settings(_env_file=None).resolved_lake_root == "s3://shop"


def test_a_set_variable_is_still_validated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPARK_CODEGEN", "maybe")
    with pytest.raises(ValidationError, match="spark_codegen"):
        Settings(_env_file=None)


def test_kafka_options_are_a_json_object_or_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAFKA_OPTIONS", "")
    assert Settings(_env_file=None).kafka_options == {}
    monkeypatch.setenv("KAFKA_OPTIONS", '{"kafka.sasl.jaas.config": "secret"}')
    options = Settings(_env_file=None).kafka_options
    assert options["kafka.sasl.jaas.config"].get_secret_value() == "secret"
    monkeypatch.setenv("KAFKA_OPTIONS", "{not json")
    with pytest.raises(ValidationError, match="kafka_options"):
        Settings(_env_file=None)
