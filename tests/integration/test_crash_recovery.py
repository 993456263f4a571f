"""Kill the streaming driver right after a Delta commit and before Spark's own commit
log, restart it, and check that no table lost or doubled a row."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime

import pytest
from lakehouse_expectations import (
    assert_table_equals,
    expected_sales_lines,
    gold_sales_by_product,
    gold_sales_by_store,
    sales_lines_table,
    unique_valid_events,
)

from mock.embedded_broker import EmbeddedBroker
from producer.catalog import build_catalog
from producer.clock import SimulatedClock
from producer.faults import FaultConfig
from producer.kafka_publisher import KafkaPublisher, producer_config
from producer.stream import generate_messages
from producer.topics import ensure_topics
from retail_lakehouse import tables
from retail_lakehouse.settings import Settings
from spark_streaming.crash_drill import ENV_VAR
from spark_streaming.delta_rs_writer import DeltaRsWriter

pytestmark = pytest.mark.integration

CRASH_EXIT_CODE = 137


def run_sales_stream(settings: Settings, crash_after: str | None) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers or "",
        "LAKE_ROOT": settings.lake_root,
        "CHECKPOINT_ROOT": settings.checkpoint_root or "",
        "TOPIC_SALES": settings.topic_sales,
        "MAX_OFFSETS_PER_TRIGGER": "250",
        "TRIGGER_INTERVAL": "200 milliseconds",
        # rate-limited reads of a simulated day run ahead on some partitions; a wide
        # watermark keeps every event on time so the expected gold is simple
        "WATERMARK_DELAY": "1 day",
        "SPARK_MASTER": "local[2]",
        "SPARK_DRIVER_MEMORY": "1g",
        "PYSPARK_PYTHON": sys.executable,
    }
    env.pop(ENV_VAR, None)
    if crash_after:
        env[ENV_VAR] = crash_after
    return subprocess.run(
        [sys.executable, "-m", "spark_streaming.main", "--families", "sales", "--until-idle", "5"],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.mark.parametrize(
    "crash_after",
    [
        # silver and the first gold table committed batch 1, the second gold table did not
        "gold.sales_by_product_minute:1",
        # everything but the batch's own ops row committed batch 2
        "gold.sales_by_store_minute:2",
    ],
)
def test_restart_after_a_crash_between_delta_and_spark_commits(spark, crash_after, tmp_path):
    with EmbeddedBroker() as broker:
        settings = Settings(
            kafka_bootstrap_servers=broker.bootstrap_servers,
            lake_root=str(tmp_path / "lake"),
            checkpoint_root=str(tmp_path / "checkpoints"),
            topic_sales="crash.sales",
            topic_clickstream="crash.clickstream",
            topic_inventory="crash.inventory",
        )
        ensure_topics(settings)
        stream = generate_messages(
            settings,
            seed=5,
            events=3000,
            faults=FaultConfig(duplicate_rate=0.05, malformed_rate=0.02),
            clock=SimulatedClock(datetime(2026, 3, 2, 9, 0, tzinfo=UTC)),
            catalog=build_catalog(5),
        )
        sales = [m for m in stream if m.topic == settings.topic_sales]
        KafkaPublisher(producer_config(settings)).publish(sales)

        crashed = run_sales_stream(settings, crash_after)
        assert crashed.returncode == CRASH_EXIT_CODE, crashed.stderr[-3000:]
        assert "crash_drill" in crashed.stderr
        resumed = run_sales_stream(settings, None)
        assert resumed.returncode == 0, resumed.stderr[-3000:]

    writer = DeltaRsWriter(settings)
    bronze = writer.read_arrow(tables.BRONZE_SALES, ["value"])["value"].to_pylist()
    assert Counter(bronze) == Counter(m.value for m in sales)

    lines = sales_lines_table(expected_sales_lines(unique_valid_events(sales), set()))
    for spec, expected in (
        (tables.SILVER_SALES_LINES, lines),
        (tables.SALES_BY_PRODUCT_MINUTE, gold_sales_by_product(lines)),
        (tables.SALES_BY_STORE_MINUTE, gold_sales_by_store(lines)),
    ):
        assert_table_equals(spark, writer, spec, expected)
    batches = writer.read_arrow(tables.STREAM_BATCHES, ["batch_id"])["batch_id"].to_pylist()
    assert len(batches) == len(set(batches)) > 2
