"""Choosing between Spark's JVM kafka source and the Python one, and their options."""

from __future__ import annotations

import pytest
from pydantic import SecretStr
from pyspark.sql import SparkSession

from retail_lakehouse.settings import Settings
from spark_streaming.outage import jvm_kafka_outage_options
from spark_streaming.sources import (
    KafkaConnectorMissingError,
    java_client_config,
    jvm_has_class,
    kafka_source_name,
    kafka_stream_options,
)


def settings(**overrides: object) -> Settings:
    return Settings(kafka_bootstrap_servers="broker:9092", _env_file=None, **overrides)  # type: ignore[call-arg]


def test_jvm_class_lookup(spark: SparkSession) -> None:
    assert jvm_has_class(spark, "org.apache.spark.sql.SparkSession")
    assert not jvm_has_class(spark, "org.example.NoSuchSource")


def test_python_source_without_the_connector(spark: SparkSession) -> None:
    # this machine has no spark-sql-kafka jar, so auto falls back to Python
    assert kafka_source_name(spark, settings(kafka_source="auto")) == "python"
    assert kafka_source_name(spark, settings(kafka_source="python")) == "python"


def test_forcing_the_jvm_source_without_the_connector_says_how_to_add_it(
    spark: SparkSession,
) -> None:
    expected = f"--packages org.apache.spark:spark-sql-kafka-0-10_2.13:{spark.version}"
    with pytest.raises(KafkaConnectorMissingError, match=expected):
        kafka_source_name(spark, settings(kafka_source="kafka"))


def test_python_source_options() -> None:
    options = kafka_stream_options(
        settings(max_offsets_per_trigger=500, starting_offsets="latest"),
        ["sales", "clicks"],
        "python",
    )
    assert options == {
        "kafka.bootstrap.servers": "broker:9092",
        "kafka.security.protocol": "PLAINTEXT",
        "subscribe": "sales,clicks",
        "startingOffsets": "latest",
        "failOnDataLoss": "true",
        "maxOffsetsPerTrigger": "500",
        "outageTolerance": "3 minutes",
    }


def test_jvm_source_gets_sasl_credentials_as_jaas_config() -> None:
    secured = settings(
        kafka_security_protocol="SASL_SSL",
        kafka_sasl_mechanism="SCRAM-SHA-512",
        kafka_sasl_username="lake",
        kafka_sasl_password=SecretStr('p"w'),
    )
    options = kafka_stream_options(secured, ["sales"], "kafka")
    assert options == {
        "kafka.bootstrap.servers": "broker:9092",
        "kafka.security.protocol": "SASL_SSL",
        "kafka.sasl.mechanism": "SCRAM-SHA-512",
        "kafka.sasl.jaas.config": (
            "org.apache.kafka.common.security.scram.ScramLoginModule required "
            'username="lake" password="p\\"w";'
        ),
        "subscribe": "sales",
        "startingOffsets": "earliest",
        "failOnDataLoss": "true",
        **jvm_kafka_outage_options(180),
    }


def test_data_loss_fails_by_default_and_can_be_allowed() -> None:
    for source in ("python", "kafka"):
        assert kafka_stream_options(settings(), ["s"], source)["failOnDataLoss"] == "true"
        allowed = settings(kafka_fail_on_data_loss=False)
        assert kafka_stream_options(allowed, ["s"], source)["failOnDataLoss"] == "false"


def test_java_config_leaves_other_settings_alone() -> None:
    config = {"bootstrap.servers": "b:9092", "sasl.mechanism": "GSSAPI", "client.id": "x"}
    assert java_client_config(config) == config
