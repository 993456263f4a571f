"""Kill the streaming driver right after a Delta commit and before Spark's own commit
log, restart it, and check that no table lost or doubled a row: every family, at
the default watermark and at a wide one."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime

import pytest
from lakehouse_expectations import (
    assert_table_equals,
    clicks_table,
    expected_sales_lines,
    gold_funnel,
    gold_inventory_levels,
    gold_sales_by_product,
    gold_sales_by_store,
    inventory_tables,
    sales_lines_table,
    unique_valid_events,
)

from mock.kafka_broker import LocalKafka
from producer.catalog import build_catalog
from producer.clock import RealtimeClock, SimulatedClock
from producer.faults import FaultConfig
from producer.kafka_publisher import KafkaPublisher, producer_config
from producer.reference_tables import write_reference_tables
from producer.stream import generate_messages
from producer.topics import ensure_topics
from retail_lakehouse import tables
from retail_lakehouse.contracts import FAMILIES
from retail_lakehouse.settings import Settings
from spark_streaming.crash_drill import ENV_VAR
from spark_streaming.delta_rs_writer import DeltaRsWriter

pytestmark = pytest.mark.integration

CRASH_EXIT_CODE = 137


def run_stream(
    settings: Settings, family: str, watermark: str, crash_after: str | None, batch_rows: int
) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers or "",
        "LAKE_ROOT": settings.lake_root,
        "CHECKPOINT_ROOT": settings.checkpoint_root or "",
        "TOPIC_SALES": settings.topic_sales,
        "TOPIC_CLICKSTREAM": settings.topic_clickstream,
        "TOPIC_INVENTORY": settings.topic_inventory,
        "MAX_OFFSETS_PER_TRIGGER": str(batch_rows),
        "TRIGGER_INTERVAL": "200 milliseconds",
        "WATERMARK_DELAY": watermark,
        "SPARK_MASTER": "local[2]",
        "SPARK_DRIVER_MEMORY": "1g",
        "PYSPARK_PYTHON": sys.executable,
    }
    env.pop(ENV_VAR, None)
    if crash_after:
        env[ENV_VAR] = crash_after
    for _ in range(STARTS):
        # idle = no batch finished for that many seconds
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "spark_streaming.main",
                "--families",
                family,
                "--until-idle",
                # a run meant to crash ends at the crash, so its idle limit costs nothing
                # and must outlast a slow batch on a loaded machine; the resumed run
                # waits long enough for every remaining batch
                "120" if crash_after else "30",
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        if not never_started(done):
            return done
    return done


# Spark gives the Python source's worker a fixed 10 s to connect back to the JVM when a
# query starts; on a loaded machine it can miss that. Such a query never read anything,
# so starting the process again is what a user would do, and proves nothing away.
STARTS = 5


def never_started(done: subprocess.CompletedProcess) -> bool:
    return (
        done.returncode not in (0, CRASH_EXIT_CODE)
        and "Python worker failed to connect back" in done.stderr
        and "Current State: INITIALIZING" in done.stderr
    )


def expected_tables(family: str, sent: list, writer: DeltaRsWriter) -> list[tuple]:
    """(table, expected rows) of a family, computed from the messages sent."""
    valid = unique_valid_events(sent)
    if family == "sales":
        lines = sales_lines_table(expected_sales_lines(valid, set()))
        return [
            (tables.SILVER_SALES_LINES, lines),
            (tables.SALES_BY_PRODUCT_MINUTE, gold_sales_by_product(lines)),
            (tables.SALES_BY_STORE_MINUTE, gold_sales_by_store(lines)),
        ]
    if family == "clickstream":
        clicks = clicks_table(valid, set())
        return [
            (tables.SILVER_CLICKSTREAM, clicks),
            (tables.FUNNEL_BY_PRODUCT_MINUTE, gold_funnel(clicks)),
        ]
    changes, counts = inventory_tables(valid)
    products = writer.read_arrow(tables.PRODUCTS, ["product_id", "safety_stock"])
    return [
        (tables.SILVER_INVENTORY_CHANGES, changes),
        (tables.SILVER_INVENTORY_SNAPSHOTS, counts),
        (tables.INVENTORY_LEVELS, gold_inventory_levels(changes, counts, products)),
    ]


BRONZE = {
    "sales": tables.BRONZE_SALES,
    "clickstream": tables.BRONZE_CLICKSTREAM,
    "inventory": tables.BRONZE_INVENTORY,
}
DEFAULT_WATERMARK = Settings.model_fields["watermark_delay"].default
BATCHES = 5


@pytest.mark.parametrize(
    ("family", "crash_after", "watermark", "clock"),
    [
        # silver and the first gold table committed batch 1, the second gold table did
        # not; rate-limited reads of a simulated day run ahead on some partitions, so a
        # wide watermark keeps every event on time and the expected gold simple
        ("sales", "gold.sales_by_product_minute:1", "1 day", "simulated"),
        ("sales", "gold.sales_by_product_minute:1", DEFAULT_WATERMARK, "realtime"),
        ("clickstream", "gold.funnel_by_product_minute:1", DEFAULT_WATERMARK, "realtime"),
        # inventory tables carry no lateness (levels apply late changes too), so a
        # simulated day at the default watermark has one right answer
        ("inventory", "gold.inventory_levels:1", DEFAULT_WATERMARK, "simulated"),
    ],
    ids=["sales-1day", "sales-default", "clickstream-default", "inventory-default"],
)
def test_restart_after_a_crash_between_delta_and_spark_commits(
    spark, family, crash_after, watermark, clock, tmp_path
):
    with LocalKafka() as broker:
        settings = Settings(
            kafka_bootstrap_servers=broker.bootstrap_servers,
            lake_root=str(tmp_path / "lake"),
            checkpoint_root=str(tmp_path / "checkpoints"),
            topic_sales="crash.sales",
            topic_clickstream="crash.clickstream",
            topic_inventory="crash.inventory",
        )
        ensure_topics(settings)
        catalog = build_catalog(5)
        write_reference_tables(settings, catalog)
        stream = generate_messages(
            settings,
            seed=5,
            events=3000,
            faults=FaultConfig(duplicate_rate=0.05, malformed_rate=0.02),
            clock=(
                SimulatedClock(datetime(2026, 3, 2, 9, 0, tzinfo=UTC))
                if clock == "simulated"
                else RealtimeClock()
            ),
            catalog=catalog,
        )
        topic = settings.topic(next(f for f in FAMILIES if f.name == family))
        sent = [m for m in stream if m.topic == topic]
        KafkaPublisher(producer_config(settings)).publish(sent)
        # a family's share of the events depends on the shop's hour (few till sales at
        # night), so batches are sized from what was sent: always about BATCHES of them
        batch_rows = max(1, len(sent) // BATCHES)

        crashed = run_stream(settings, family, watermark, crash_after, batch_rows)
        assert crashed.returncode == CRASH_EXIT_CODE, crashed.stderr[-3000:]
        assert "crash_drill" in crashed.stderr
        resumed = run_stream(settings, family, watermark, None, batch_rows)
        assert resumed.returncode == 0, resumed.stderr[-3000:]

    writer = DeltaRsWriter(settings)
    bronze = writer.read_arrow(BRONZE[family], ["value"])["value"].to_pylist()
    assert Counter(bronze) == Counter(m.value for m in sent)
    for spec, expected in expected_tables(family, sent, writer):
        assert expected.num_rows > 0
        assert_table_equals(spark, writer, spec, expected)
    # every batch committed once, the crashed one (batch 1) and some after it included
    batches = writer.read_arrow(tables.STREAM_BATCHES, ["batch_id"])["batch_id"].to_pylist()
    assert sorted(batches) == list(range(len(batches)))
    assert len(batches) > 2
