"""The whole sales stream with its lake on S3 (moto's server on loopback): reference
tables, bronze, silver and gold land in the bucket and match an independent computation."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

import pytest
from lakehouse_expectations import (
    assert_table_equals,
    expected_sales_lines,
    gold_sales_by_product,
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
from spark_streaming.delta_rs_writer import DeltaRsWriter
from spark_streaming.streams import start_streams, stop_streams

pytestmark = pytest.mark.integration

BUCKET = "retail-lake-e2e"


def test_sales_stream_writes_its_lake_to_s3(spark, s3_lake, tmp_path):
    lake_settings = s3_lake(BUCKET)
    with LocalKafka() as broker:
        settings = lake_settings.model_copy(
            update={
                "kafka_bootstrap_servers": broker.bootstrap_servers,
                "checkpoint_root": str(tmp_path / "checkpoints"),
                "topic_sales": "s3.sales",
                "topic_clickstream": "s3.clickstream",
                "topic_inventory": "s3.inventory",
                "watermark_delay": "1 day",
            }
        )
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
        running = start_streams(spark, settings, ["sales"])
        try:
            wait_until(lambda: running[0].processor.input_rows_total >= len(sales), 300, "sales")
        finally:
            stop_streams(running)

    writer = DeltaRsWriter(settings)
    bronze = writer.read_arrow(tables.BRONZE_SALES, ["value"])["value"].to_pylist()
    assert Counter(bronze) == Counter(m.value for m in sales)
    lines = sales_lines_table(expected_sales_lines(unique_valid_events(sales), set()))
    for spec, expected in (
        (tables.SILVER_SALES_LINES, lines),
        (tables.SALES_BY_PRODUCT_MINUTE, gold_sales_by_product(lines)),
    ):
        assert_table_equals(spark, writer, spec, expected)
    summary = summarize_lake(settings)
    assert summary.table_rows["reference.products"] == len(catalog.products)
    assert summary.table_rows["bronze.sales_transactions"] == len(sales)
