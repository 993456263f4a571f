"""The Kafka stream a job reads: Spark's own `kafka` source (its JVM connector), locally
and under spark-submit alike; or, in mock mode (KAFKA_SOURCE=generated), the seeded
producer inside Spark with no broker at all.

Every option a user expects of Spark's connector comes from settings: startingOffsets,
maxOffsetsPerTrigger, failOnDataLoss, minPartitions, the outage budget, and any other
option or `kafka.*` client property through KAFKA_OPTIONS (security protocol, SASL...).
Option values can hold secrets (a JAAS config), so only option names are ever logged.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from pyspark.sql import DataFrame, SparkSession

from retail_lakehouse.durations import duration_seconds
from retail_lakehouse.jvm import FETCH_COMMAND
from retail_lakehouse.logs import kv
from retail_lakehouse.settings import Settings
from spark_streaming.outage import jvm_kafka_outage_options

log = logging.getLogger(__name__)

KAFKA_PROVIDER_CLASS = "org.apache.spark.sql.kafka010.KafkaSourceProvider"
# How long the broker may hold a fetch that finds no new records (Kafka's default: 500 ms).
# A micro-batch reads right up to the log's end, its tasks one partition after another,
# and at that end the reads waited out the hold: the batch's one Spark job ran 0.3 to
# 2.7 s for about 50 ms of CPU. At 20 ms `make demo`'s p95 fell from 2.0-2.7 s to 1.7-1.8 s
# (docs/performance.md). A consumer fetches only while it is polled, so a short hold
# costs the broker nothing while the stream is between batches.
FETCH_MAX_WAIT_MS = 20
_LOGIN_MODULES = {
    "PLAIN": "org.apache.kafka.common.security.plain.PlainLoginModule",
    "SCRAM-SHA-256": "org.apache.kafka.common.security.scram.ScramLoginModule",
    "SCRAM-SHA-512": "org.apache.kafka.common.security.scram.ScramLoginModule",
}
# what the query itself decides: which topics it reads
_RESERVED_OPTIONS = ("subscribe", "subscribePattern", "assign")


class KafkaConnectorMissingError(RuntimeError):
    """Spark cannot load its Kafka connector: the jars were not fetched or not passed."""


def jvm_has_class(spark: SparkSession, class_name: str) -> bool:
    """Whether the driver JVM can load a class, with the loader Spark uses for sources."""
    jvm = getattr(spark, "_jvm", None)  # Spark Connect sessions have no py4j gateway
    if jvm is None:
        return True  # a Connect server resolves sources itself
    try:
        loader = jvm.org.apache.spark.util.Utils.getContextOrSparkClassLoader()
        jvm.java.lang.Class.forName(class_name, False, loader)
    except Exception:  # py4j wraps ClassNotFoundException
        return False
    return True


def require_kafka_connector(spark: SparkSession) -> None:
    if not jvm_has_class(spark, KAFKA_PROVIDER_CLASS):
        raise KafkaConnectorMissingError(
            "Spark's Kafka connector is not on the classpath: locally, run "
            f"`{FETCH_COMMAND}` (it fetches the jars into .jvm/); under spark-submit pass "
            f"--packages org.apache.spark:spark-sql-kafka-0-10_2.13:{spark.version} or "
            "--jars with the files in .jvm/spark (README, Running on a cluster)"
        )


def java_client_config(config: Mapping[str, str]) -> dict[str, str]:
    """librdkafka settings in the Java client's words: username and password become
    sasl.jaas.config, which is all the Java client understands."""
    java = {k: v for k, v in config.items() if k not in ("sasl.username", "sasl.password")}
    module = _LOGIN_MODULES.get(config.get("sasl.mechanism", "").upper())
    if module and "sasl.username" in config:
        username = _jaas_quote(config["sasl.username"])
        password = _jaas_quote(config.get("sasl.password", ""))
        java["sasl.jaas.config"] = f"{module} required username={username} password={password};"
    return java


def _jaas_quote(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def kafka_stream_options(
    settings: Settings, topics: list[str], starting_offsets: str | None = None
) -> dict[str, str]:
    """Options of Spark's kafka source. `starting_offsets` (a JSON map of offsets)
    replaces STARTING_OFFSETS when the lake says where a new checkpoint must begin."""
    client = java_client_config(settings.kafka_client_config())
    options = {f"kafka.{key}": value for key, value in client.items()}
    options |= {
        "kafka.fetch.max.wait.ms": str(FETCH_MAX_WAIT_MS),
        "subscribe": ",".join(topics),
        "startingOffsets": starting_offsets or settings.starting_offsets,
        # lost offsets (expired retention, a recreated topic) stop the query loudly
        # unless KAFKA_FAIL_ON_DATA_LOSS=false allows skipping them
        "failOnDataLoss": "true" if settings.kafka_fail_on_data_loss else "false",
        # a broker outage is waited out for about KAFKA_OUTAGE_TOLERANCE
        **jvm_kafka_outage_options(duration_seconds(settings.kafka_outage_tolerance)),
        "maxOffsetsPerTrigger": str(settings.max_offsets_per_trigger),
    }
    if settings.kafka_min_partitions:
        options["minPartitions"] = str(settings.kafka_min_partitions)
    for key, value in settings.kafka_options.items():
        if key in _RESERVED_OPTIONS:
            raise ValueError(f"KAFKA_OPTIONS may not set {key!r}: the topics come from TOPIC_*")
        options[key] = value.get_secret_value()
    return options


def read_kafka_stream(
    spark: SparkSession,
    settings: Settings,
    topics: list[str],
    starting_offsets: str | None = None,
) -> DataFrame:
    """A streaming DataFrame with Spark's kafka schema (key, value, topic, partition,
    offset, timestamp, timestampType) over `topics`."""
    if settings.kafka_source == "generated":  # mock mode: the seeded producer, no broker
        from spark_streaming.generated_source import read_generated_stream

        log.info(kv("kafka_source", source="generated", topics=",".join(topics)))
        return read_generated_stream(spark, settings, topics)
    require_kafka_connector(spark)
    options = kafka_stream_options(settings, topics, starting_offsets)
    log.info(
        kv(
            "kafka_source",
            source="kafka",
            topics=",".join(topics),
            starting_offsets=options["startingOffsets"],
            # names only: values may carry credentials
            options=",".join(sorted(k for k in options if k not in ("subscribe",))),
        )
    )
    return spark.readStream.format("kafka").options(**options).load()
