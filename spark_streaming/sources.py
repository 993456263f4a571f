"""The Kafka stream a job reads: Spark's built-in `kafka` source when its JVM connector
is on the classpath (a cluster), the Python source otherwise (a laptop, CI).

Both get the same options, so a query's output and checkpoint offsets look the same.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Literal

from pyspark.sql import DataFrame, SparkSession

from retail_lakehouse.durations import duration_seconds
from retail_lakehouse.logs import kv
from retail_lakehouse.settings import Settings
from spark_streaming.kafka_source import SOURCE_NAME, KafkaDataSource
from spark_streaming.outage import jvm_kafka_outage_options

log = logging.getLogger(__name__)

KAFKA_PROVIDER_CLASS = "org.apache.spark.sql.kafka010.KafkaSourceProvider"
KafkaSourceName = Literal["kafka", "python", "generated"]
_LOGIN_MODULES = {
    "PLAIN": "org.apache.kafka.common.security.plain.PlainLoginModule",
    "SCRAM-SHA-256": "org.apache.kafka.common.security.scram.ScramLoginModule",
    "SCRAM-SHA-512": "org.apache.kafka.common.security.scram.ScramLoginModule",
}


class KafkaConnectorMissingError(RuntimeError):
    """KAFKA_SOURCE=kafka, but Spark cannot load its Kafka connector."""


def jvm_has_class(spark: SparkSession, class_name: str) -> bool:
    """Whether the driver JVM can load a class, with the loader Spark uses for sources."""
    jvm = getattr(spark, "_jvm", None)  # Spark Connect sessions have no py4j gateway
    if jvm is None:
        return False
    try:
        loader = jvm.org.apache.spark.util.Utils.getContextOrSparkClassLoader()
        jvm.java.lang.Class.forName(class_name, False, loader)
    except Exception:  # py4j wraps ClassNotFoundException
        return False
    return True


def kafka_source_name(spark: SparkSession, settings: Settings) -> KafkaSourceName:
    """`kafka` (JVM connector) or `python` (confluent-kafka), from KAFKA_SOURCE."""
    if settings.kafka_source == "python":
        return "python"
    if settings.kafka_source == "generated":
        return "generated"
    available = jvm_has_class(spark, KAFKA_PROVIDER_CLASS)
    if settings.kafka_source == "kafka" and not available:
        raise KafkaConnectorMissingError(
            "KAFKA_SOURCE=kafka but Spark's Kafka connector is not on the classpath. Start "
            f"Spark with --packages org.apache.spark:spark-sql-kafka-0-10_2.13:{spark.version} "
            "(or set spark.jars.packages), or set KAFKA_SOURCE=auto to use the Python source."
        )
    return "kafka" if available else "python"


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
    settings: Settings, topics: list[str], source: KafkaSourceName
) -> dict[str, str]:
    """The reader options both sources take."""
    client = settings.kafka_client_config()
    if source == "kafka":
        client = java_client_config(client)
    options = {f"kafka.{key}": value for key, value in client.items()}
    options |= {
        "subscribe": ",".join(topics),
        "startingOffsets": settings.starting_offsets,
        # lost offsets (expired retention, a recreated topic) stop the query loudly
        # unless KAFKA_FAIL_ON_DATA_LOSS=false allows skipping them
        "failOnDataLoss": "true" if settings.kafka_fail_on_data_loss else "false",
    }
    if settings.max_offsets_per_trigger:
        options["maxOffsetsPerTrigger"] = str(settings.max_offsets_per_trigger)
    # both sources wait out a broker outage for KAFKA_OUTAGE_TOLERANCE
    if source == "kafka":
        options |= jvm_kafka_outage_options(duration_seconds(settings.kafka_outage_tolerance))
    else:
        options["outageTolerance"] = settings.kafka_outage_tolerance
    return options


def read_kafka_stream(spark: SparkSession, settings: Settings, topics: list[str]) -> DataFrame:
    """A streaming DataFrame with Spark's kafka schema (key, value, topic, partition,
    offset, timestamp, timestampType) over `topics`."""
    source = kafka_source_name(spark, settings)
    if source == "generated":  # mock mode: the seeded producer, no broker
        from spark_streaming.generated_source import read_generated_stream

        log.info(kv("kafka_source", source=source, topics=",".join(topics)))
        return read_generated_stream(spark, settings, topics)
    if source == "python":
        spark.dataSource.register(KafkaDataSource)
    log.info(kv("kafka_source", source=source, topics=",".join(topics)))
    options = kafka_stream_options(settings, topics, source)
    return (
        spark.readStream.format("kafka" if source == "kafka" else SOURCE_NAME)
        .options(**options)
        .load()
    )
