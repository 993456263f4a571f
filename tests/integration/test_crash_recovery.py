"""Kill the streaming driver right after a Delta commit and before Spark's own commit
log, restart it, and check that no table lost or doubled a row: every family, both
writers, at the default watermark and at a wide one, killed after a gold, a silver or
the ops commit of a batch. Then lose the checkpoint: deleted between runs, and deleted
after a crash left a batch half committed; the restart resumes from the offsets the
lake recorded, and still nothing is lost or doubled."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

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
    read_table,
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

pytestmark = pytest.mark.integration

CRASH_EXIT_CODE = 137


def run_stream(
    settings: Settings,
    family: str,
    watermark: str,
    crash_after: str | None,
    batch_rows: int,
    writer: str = "delta-rs",
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
        "DELTA_WRITER": writer,
        "SPARK_MASTER": "local[2]",
        "SPARK_DRIVER_MEMORY": "1g",
        "PYSPARK_PYTHON": sys.executable,
    }
    env.pop(ENV_VAR, None)
    if crash_after:
        env[ENV_VAR] = crash_after
    # idle = no batch finished for that many seconds; a run meant to crash ends at the
    # crash, so its idle limit costs nothing and must outlast a slow batch
    idle = "120" if crash_after else "10"
    command = [sys.executable, "-m", "spark_streaming.main", "--families", family]
    return subprocess.run(
        [*command, "--until-idle", idle], env=env, capture_output=True, text=True, timeout=600
    )


def expected_tables(family: str, sent: list, settings: Settings) -> list[tuple]:
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
    products = read_table(settings, tables.PRODUCTS).select(["product_id", "safety_stock"])
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


@pytest.fixture(scope="module")
def broker():
    with LocalKafka() as running:
        yield running


@pytest.mark.parametrize(
    ("family", "writer", "crash_after", "watermark", "clock"),
    [
        # the first gold table committed batch 1, maybe others beside it; rate-limited
        # reads of a simulated day run ahead on some partitions, so a wide watermark
        # keeps every event on time and the expected gold simple
        ("sales", "delta-rs", "gold.sales_by_product_minute:1", "1 day", "simulated"),
        # every table of batch 1 committed, Spark's commit log did not
        ("sales", "delta-rs", "ops.stream_batches:1", DEFAULT_WATERMARK, "realtime"),
        ("sales", "delta-spark", "silver.sales_lines:2", DEFAULT_WATERMARK, "realtime"),
        (
            "clickstream",
            "delta-spark",
            "gold.funnel_by_product_minute:1",
            DEFAULT_WATERMARK,
            "realtime",
        ),
        # inventory tables carry no lateness (levels apply late changes too), so a
        # simulated day at the default watermark has one right answer
        ("inventory", "delta-rs", "gold.inventory_levels:1", DEFAULT_WATERMARK, "simulated"),
    ],
    ids=["sales-gold-1day", "sales-ops", "sales-silver-spark", "clicks-gold-spark", "inventory"],
)
def test_restart_after_a_crash_between_delta_and_spark_commits(
    spark, broker, family, writer, crash_after, watermark, clock, tmp_path
):
    settings, sent = published(broker, tmp_path, family, clock)
    assert KafkaPublisher(producer_config(settings)).publish(sent).failed == 0
    batch_rows = max(1, len(sent) // BATCHES)

    crashed = run_stream(settings, family, watermark, crash_after, batch_rows, writer)
    assert crashed.returncode == CRASH_EXIT_CODE, crashed.stderr[-3000:]
    assert "crash_drill" in crashed.stderr
    resumed = run_stream(settings, family, watermark, None, batch_rows, writer)
    assert resumed.returncode == 0, resumed.stderr[-3000:]

    assert_family_tables(spark, settings, family, sent)
    # every batch committed once, the crashed one and some after it included
    batches = read_table(settings, tables.STREAM_BATCHES)["batch_id"].to_pylist()
    assert sorted(batches) == list(range(len(batches)))
    assert len(batches) > 2


@pytest.mark.parametrize("crash_first", [False, True], ids=["stopped", "crashed-mid-batch"])
def test_a_lost_checkpoint_resumes_from_the_lake(spark, broker, tmp_path, crash_first):
    """The checkpoint is deleted while the job is down, after a clean stop or after a
    crash that left batch 1 half committed (gold, not yet silver or ops); more events
    arrive; the restarted job finds no checkpoint and must neither read every topic
    again (doubling what the lake holds) nor skip what it never stored."""
    family, watermark = "sales", DEFAULT_WATERMARK
    settings, sent = published(broker, tmp_path, family, "realtime")
    half = len(sent) // 2
    first, second = sent[:half], sent[half:]
    # the first half only, then the second half after the checkpoint is gone
    publisher = KafkaPublisher(producer_config(settings))
    batch_rows = max(1, len(first) // BATCHES)
    assert publisher.publish(first).failed == 0
    if crash_first:
        crash = run_stream(
            settings, family, watermark, "gold.sales_by_product_minute:1", batch_rows
        )
        assert crash.returncode == CRASH_EXIT_CODE, crash.stderr[-3000:]
    else:
        ran = run_stream(settings, family, watermark, None, batch_rows)
        assert ran.returncode == 0, ran.stderr[-3000:]
    checkpoint = Path(settings.checkpoint_root or "") / "retail_pipeline"
    assert (checkpoint / "offsets").is_dir()
    # a local checkpoint is written without Hadoop's checksum side files
    assert not list(checkpoint.rglob("*.crc")), sorted(checkpoint.rglob("*.crc"))[:5]
    shutil.rmtree(checkpoint)
    assert publisher.publish(second).failed == 0
    resumed = run_stream(settings, family, watermark, None, batch_rows)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "event=lake_recorded_offsets" in resumed.stderr
    assert_family_tables(spark, settings, family, sent)


def published(broker, tmp_path, family: str, clock: str) -> tuple[Settings, list]:
    """Settings for a fresh lake and topics, and the family's messages to publish."""
    settings = Settings(
        kafka_bootstrap_servers=broker.bootstrap_servers,
        lake_root=str(tmp_path / "lake"),
        checkpoint_root=str(tmp_path / "checkpoints"),
        # one broker for the module: topics of the test's own
        topic_sales=f"{tmp_path.name}.sales",
        topic_clickstream=f"{tmp_path.name}.clickstream",
        topic_inventory=f"{tmp_path.name}.inventory",
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
    return settings, sent


def assert_family_tables(spark, settings: Settings, family: str, sent: list) -> None:
    bronze = read_table(settings, BRONZE[family])["value"].to_pylist()
    assert Counter(bronze) == Counter(m.value for m in sent)
    for spec, expected in expected_tables(family, sent, settings):
        assert expected.num_rows > 0
        assert_table_equals(spark, settings, spec, expected)
