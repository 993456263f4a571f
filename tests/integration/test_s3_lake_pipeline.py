"""The sales stream with its lake on S3 (moto's server on loopback), written by either
writer: delta-rs through `s3://`, and delta-spark through hadoop-aws's `s3a://`, with
the Spark checkpoint in the bucket too. Reference tables, bronze, silver and gold land
in the bucket and match an independent computation."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

import pytest
from lakehouse_expectations import (
    assert_table_equals,
    expected_sales_lines,
    gold_sales_by_product,
    read_table,
    sales_lines_table,
    unique_valid_events,
    wait_until,
)

from mock.kafka_broker import LocalKafka
from mock.summary import summarize_lake
from producer.catalog import build_catalog
from producer.clock import SimulatedClock
from producer.faults import FaultConfig
from producer.kafka_publisher import KafkaPublisher, producer_config
from producer.reference_tables import write_reference_tables
from producer.stream import generate_messages
from producer.topics import ensure_topics
from retail_lakehouse import tables
from spark_streaming.lake_writer import lake_writer_name
from spark_streaming.session import s3a_options
from spark_streaming.streams import start_pipeline, stop_pipeline

pytestmark = pytest.mark.integration

BUCKET = "retail-lake-e2e"


def use_s3a(spark, settings) -> None:
    """What `build_session` passes a new session, set on the tests' running one."""
    hadoop = spark.sparkContext._jsc.hadoopConfiguration()
    for key, value in s3a_options(settings).items():
        hadoop.set(key.removeprefix("spark.hadoop."), value)


@pytest.mark.parametrize("writer", ["delta-rs", "delta-spark"])
def test_sales_stream_writes_its_lake_to_s3(spark, s3_lake, tmp_path, writer):
    bucket = f"{BUCKET}-{writer}"
    lake_settings = s3_lake(bucket, delta_writer=writer)
    checkpoints = f"s3a://{bucket}/checkpoints" if writer == "delta-spark" else tmp_path
    with LocalKafka() as broker:
        settings = lake_settings.model_copy(
            update={
                "kafka_bootstrap_servers": broker.bootstrap_servers,
                "checkpoint_root": str(checkpoints),
                "topic_sales": f"s3.{writer}.sales",
                "topic_clickstream": f"s3.{writer}.clickstream",
                "topic_inventory": f"s3.{writer}.inventory",
                "watermark_delay": "1 day",
            }
        )
        use_s3a(spark, settings)
        ensure_topics(settings)
        catalog = build_catalog(3)
        write_reference_tables(settings, catalog)
        stream = generate_messages(
            settings,
            seed=3,
            events=1500,
            faults=FaultConfig(duplicate_rate=0.05, malformed_rate=0.03),
            clock=SimulatedClock(datetime(2026, 3, 2, 9, 0, tzinfo=UTC)),
            catalog=catalog,
        )
        sales = [m for m in stream if m.topic == settings.topic_sales]
        KafkaPublisher(producer_config(settings)).publish(sales)
        running = start_pipeline(spark, settings, ["sales"])
        try:
            wait_until(lambda: running.processor.input_rows_total >= len(sales), 300, "sales")
        finally:
            stop_pipeline(running)
        assert lake_writer_name(running.processor.writer) == writer

    bronze = read_table(settings, tables.BRONZE_SALES).select(["value"])["value"].to_pylist()
    assert Counter(bronze) == Counter(m.value for m in sales)
    lines = sales_lines_table(expected_sales_lines(unique_valid_events(sales), set()))
    for spec, expected in (
        (tables.SILVER_SALES_LINES, lines),
        (tables.SALES_BY_PRODUCT_MINUTE, gold_sales_by_product(lines)),
    ):
        assert_table_equals(spark, settings, spec, expected)
    summary = summarize_lake(settings)
    assert summary.table_rows["reference.products"] == len(catalog.products)
    assert summary.table_rows["bronze.sales_transactions"] == len(sales)
    if writer == "delta-spark":
        # the checkpoint went through s3a: Spark's own offset log is in the bucket
        listed = boto3_client(settings).list_objects_v2(Bucket=bucket, Prefix="checkpoints/")
        assert any("/offsets/" in o["Key"] for o in listed.get("Contents", []))


def boto3_client(settings):
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=settings.aws_endpoint_url,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        region_name="us-east-1",
    )
