"""Spark's kafka source: that the connector is there, and the options settings give it."""

from __future__ import annotations

import pytest
from pydantic import SecretStr
from pyspark.sql import SparkSession

from retail_lakehouse.settings import Settings
from spark_streaming.outage import jvm_kafka_outage_options
from spark_streaming.sources import (
    KAFKA_PROVIDER_CLASS,
    java_client_config,
    jvm_has_class,
    kafka_stream_options,
)


def settings(**overrides: object) -> Settings:
    return Settings(kafka_bootstrap_servers="broker:9092", _env_file=None, **overrides)  # type: ignore[call-arg]


def test_the_connector_make_install_fetched_is_on_the_classpath(spark: SparkSession) -> None:
    assert jvm_has_class(spark, KAFKA_PROVIDER_CLASS)
    assert not jvm_has_class(spark, "org.example.NoSuchSource")


def test_connector_options_come_from_settings() -> None:
    options = kafka_stream_options(
        settings(max_offsets_per_trigger=500, starting_offsets="latest", kafka_min_partitions=6),
        ["sales", "clicks"],
    )
    assert options == {
        "kafka.bootstrap.servers": "broker:9092",
        "kafka.security.protocol": "PLAINTEXT",
        "kafka.fetch.max.wait.ms": "20",
        "subscribe": "sales,clicks",
        "startingOffsets": "latest",
        "failOnDataLoss": "true",
        "maxOffsetsPerTrigger": "500",
        "minPartitions": "6",
        **jvm_kafka_outage_options(180),
    }


def test_offsets_recorded_in_the_lake_replace_the_starting_setting() -> None:
    recorded = '{"sales": {"0": 42, "1": 7}}'
    assert kafka_stream_options(settings(), ["sales"], recorded)["startingOffsets"] == recorded


def test_any_connector_or_client_option_passes_through_and_stays_secret() -> None:
    jaas = 'org.apache.kafka.common.security.plain.PlainLoginModule required password="s3cret";'
    configured = settings(
        kafka_options={"kafka.sasl.jaas.config": jaas, "includeHeaders": "true"},
    )
    options = kafka_stream_options(configured, ["sales"])
    assert options["kafka.sasl.jaas.config"] == jaas and options["includeHeaders"] == "true"
    assert "s3cret" not in repr(configured) and "s3cret" not in str(configured.kafka_options)
    with pytest.raises(ValueError, match="subscribe"):
        kafka_stream_options(settings(kafka_options={"subscribe": "other"}), ["sales"])


def test_the_short_fetch_wait_is_a_default_kafka_options_can_change() -> None:
    assert kafka_stream_options(settings(), ["s"])["kafka.fetch.max.wait.ms"] == "20"
    kafka_default = settings(kafka_options={"kafka.fetch.max.wait.ms": "500"})
    assert kafka_stream_options(kafka_default, ["s"])["kafka.fetch.max.wait.ms"] == "500"


def test_kafka_options_come_from_the_environment_as_json(monkeypatch) -> None:
    monkeypatch.setenv("KAFKA_OPTIONS", '{"kafka.ssl.truststore.location": "/etc/ts.jks"}')
    assert kafka_stream_options(settings(), ["s"])["kafka.ssl.truststore.location"] == (
        "/etc/ts.jks"
    )


def test_sasl_credentials_become_a_jaas_config() -> None:
    secured = settings(
        kafka_security_protocol="SASL_SSL",
        kafka_sasl_mechanism="SCRAM-SHA-512",
        kafka_sasl_username="lake",
        kafka_sasl_password=SecretStr('p"w'),
    )
    options = kafka_stream_options(secured, ["sales"])
    assert options["kafka.sasl.mechanism"] == "SCRAM-SHA-512"
    assert options["kafka.sasl.jaas.config"] == (
        "org.apache.kafka.common.security.scram.ScramLoginModule required "
        'username="lake" password="p\\"w";'
    )
    assert "kafka.sasl.username" not in options and "kafka.sasl.password" not in options


def test_data_loss_fails_by_default_and_can_be_allowed() -> None:
    assert kafka_stream_options(settings(), ["s"])["failOnDataLoss"] == "true"
    allowed = settings(kafka_fail_on_data_loss=False)
    assert kafka_stream_options(allowed, ["s"])["failOnDataLoss"] == "false"


@pytest.mark.parametrize("bad", ["newest", "42"])
def test_starting_offsets_are_checked_at_start_up(bad: str) -> None:
    with pytest.raises(ValueError, match="STARTING_OFFSETS"):
        settings(starting_offsets=bad)


def test_java_config_leaves_other_settings_alone() -> None:
    config = {"bootstrap.servers": "b:9092", "sasl.mechanism": "GSSAPI", "client.id": "x"}
    assert java_client_config(config) == config
