from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

from chispa import assert_df_equality
from pyspark.sql import types as T
from transforms_support import KAFKA_TIME, utc

from spark_streaming.schemas import KAFKA_SCHEMA
from spark_streaming.transforms.bronze import to_bronze

BRONZE_SCHEMA = T.StructType(
    [
        T.StructField("key", T.BinaryType()),
        T.StructField("value", T.BinaryType()),
        T.StructField("topic", T.StringType()),
        T.StructField("partition", T.IntegerType()),
        T.StructField("offset", T.LongType()),
        T.StructField("kafka_timestamp", T.TimestampType()),
        T.StructField("kafka_timestamp_type", T.IntegerType()),
        T.StructField("ingested_at", T.TimestampType()),
        T.StructField("ingest_date", T.DateType()),
    ]
)


def test_bronze_keeps_every_record_with_its_kafka_metadata(spark):
    kafka = spark.createDataFrame(
        [
            (b"12", b'{"event_id": "a"}', "sales", 1, 41, KAFKA_TIME, 0),
            (None, None, "sales", 0, 7, KAFKA_TIME, 1),
            (b"12", b"\xff not json", "sales", 1, 42, KAFKA_TIME, 0),
        ],
        KAFKA_SCHEMA,
    )
    # 01:30 at UTC+2 is still the 2nd in UTC: the partition date follows UTC
    ingested_at = datetime(2026, 3, 3, 1, 30, tzinfo=timezone(timedelta(hours=2)))

    actual = to_bronze(kafka, ingested_at)

    ingested = utc("2026-03-02 23:30:00")
    expected = spark.createDataFrame(
        [
            (
                b"12",
                b'{"event_id": "a"}',
                "sales",
                1,
                41,
                KAFKA_TIME,
                0,
                ingested,
                date(2026, 3, 2),
            ),
            (None, None, "sales", 0, 7, KAFKA_TIME, 1, ingested, date(2026, 3, 2)),
            (b"12", b"\xff not json", "sales", 1, 42, KAFKA_TIME, 0, ingested, date(2026, 3, 2)),
        ],
        BRONZE_SCHEMA,
    )
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


def test_bronze_reads_a_naive_ingest_time_as_utc(spark):
    kafka = spark.createDataFrame([(None, b"{}", "sales", 0, 0, KAFKA_TIME, 0)], KAFKA_SCHEMA)

    actual = to_bronze(kafka, datetime(2026, 3, 2, 23, 59, 59)).select("ingested_at", "ingest_date")

    expected = spark.createDataFrame(
        [(utc("2026-03-02 23:59:59"), date(2026, 3, 2))], "ingested_at timestamp, ingest_date date"
    )
    assert_df_equality(actual, expected, ignore_nullable=True)
