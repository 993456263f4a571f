"""Bronze: every Kafka record as received, with its metadata and the ingest time."""

from __future__ import annotations

from datetime import datetime

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from spark_streaming.transforms.literals import timestamp_literal, utc_date_literal


def to_bronze(kafka_rows: DataFrame, ingested_at: datetime) -> DataFrame:
    """Kafka source rows -> bronze rows; nothing is parsed or filtered here, so a bad
    payload is still replayable from bronze after a fix downstream."""
    return kafka_rows.select(
        F.col("key").cast("binary").alias("key"),
        F.col("value").cast("binary").alias("value"),
        F.col("topic").cast("string").alias("topic"),
        F.col("partition").cast("int").alias("partition"),
        F.col("offset").cast("long").alias("offset"),
        F.col("timestamp").cast("timestamp").alias("kafka_timestamp"),
        F.col("timestampType").cast("int").alias("kafka_timestamp_type"),
        timestamp_literal(ingested_at).alias("ingested_at"),
        # the UTC date of the ingest, computed once on the driver: the partition
        # column must not depend on the session's time zone
        utc_date_literal(ingested_at).alias("ingest_date"),
    )
