"""A small real lake over several shop days, for the DAG and Airflow tests.

Seeded events (with duplicates, disorder and malformed records) go through the embedded
Kafka-protocol broker into the real streaming job, which writes the Delta tables. The
shop's traffic is scaled down so a few thousand events span several simulated days,
so the daily KPIs have more than one row to get right.
"""

from __future__ import annotations

import itertools
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

from lakehouse_expectations import wait_until

from mock.embedded_broker import EmbeddedBroker
from producer.catalog import build_catalog
from producer.clock import SimulatedClock, utc_now
from producer.faults import FaultConfig, FaultInjector
from producer.kafka_publisher import KafkaPublisher, producer_config
from producer.reference_tables import write_reference_tables
from producer.simulator import ShopSimulator
from producer.stream import MessageStream
from producer.topics import ensure_topics
from retail_lakehouse.contracts import FAMILIES
from retail_lakehouse.settings import Settings
from spark_streaming.streams import start_streams, stop_streams

START = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
SEED = 23
EVENTS = 3_000
# about 1/10 of the default shop: 3,000 events cover roughly four days
TRAFFIC_SCALE = 0.1
# restarts allowed when a stream query dies (e.g. a Python worker start timing out)
RESTARTS = 2
FAULTS = FaultConfig(duplicate_rate=0.02, out_of_order_rate=0.03, malformed_rate=0.02)


def build_small_lake(spark, root: Path, name: str) -> Settings:
    """Stream the seeded events into a lake under `root`; settings pointing at it."""
    with EmbeddedBroker() as broker:
        settings = Settings(
            kafka_bootstrap_servers=broker.bootstrap_servers,
            lake_root=str(root / "lake"),
            checkpoint_root=str(root / "checkpoints"),
            topic_sales=f"{name}.sales",
            topic_clickstream=f"{name}.clickstream",
            topic_inventory=f"{name}.inventory",
            topic_partitions=2,
            trigger_interval="500 milliseconds",
        )
        ensure_topics(settings)
        catalog = build_catalog(SEED)
        write_reference_tables(settings, catalog)
        simulator = ShopSimulator(catalog, SEED, SimulatedClock(START), traffic_scale=TRAFFIC_SCALE)
        messages = list(
            MessageStream(
                settings,
                itertools.islice(simulator, EVENTS),
                FaultInjector(FAULTS, SEED),
                utc_now,
            )
        )
        result = KafkaPublisher(producer_config(settings)).publish(messages)
        assert result.failed == 0 and result.delivered == len(messages)
        sent = Counter(m.topic for m in messages)
        read: Counter = Counter()
        for attempt in range(1, RESTARTS + 2):
            if _stream_until_caught_up(spark, settings, sent, read):
                break
            # on a machine this loaded Spark's Python workers can time out connecting
            # back; a restart resumes from the checkpoints (exactly once, by design)
            assert attempt <= RESTARTS, "the streams kept failing"
    return settings.model_copy(update={"kafka_bootstrap_servers": None})


def _stream_until_caught_up(spark, settings: Settings, sent: Counter, read: Counter) -> bool:
    """Run the streaming job until it has read every sent record (True), or until one of
    its queries stops (False); `read` carries the records read by earlier attempts."""
    running = start_streams(spark, settings)

    def done() -> dict[str, int]:
        return {s.family: read[s.family] + s.processor.input_rows_total for s in running}

    try:

        def caught_up_or_stopped() -> bool:
            if any(not s.query.isActive for s in running):
                return True
            return all(done()[f.name] >= sent[settings.topic(f)] for f in FAMILIES)

        wait_until(caught_up_or_stopped, 300, "the streams to read every event")
        return all(s.query.isActive for s in running)
    finally:
        stop_streams(running)
        read.update({family: n - read[family] for family, n in done().items()})
