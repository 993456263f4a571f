"""A small real lake over several shop days, for the DAG and Airflow tests.

Seeded events (with duplicates, disorder and malformed records) are cut into Kafka-shaped
micro-batches and handed to the streaming job's own batch function (FamilyBatchProcessor,
what `foreachBatch` calls in the running job), which validates, de-duplicates and writes
bronze, silver, quarantine, gold and ops.stream_batches with the project's Delta writer.
The streaming query's Kafka reader is left out: on a machine shared by many jobs, Spark's
Python data-source workers time out connecting back (a hard-coded 10 s), while the batch
function runs in the JVM and the driver alone. The shop's traffic is scaled down so a
few thousand events span several simulated days.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa

from producer.catalog import build_catalog
from producer.clock import SimulatedClock, utc_now
from producer.faults import FaultConfig, FaultInjector
from producer.messages import OutboundMessage
from producer.reference_tables import write_reference_tables
from producer.simulator import ShopSimulator
from producer.stream import MessageStream
from retail_lakehouse.contracts import FAMILIES
from retail_lakehouse.settings import Settings
from spark_streaming.family_batch import FamilyBatchProcessor
from spark_streaming.family_plans import plan_for
from spark_streaming.kafka_source import ARROW_SCHEMA
from spark_streaming.lake_writer import make_lake_writer

START = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
SEED = 23
EVENTS = 3_000
BATCH = 400
# about 1/10 of the default shop: 3,000 events cover roughly four days
TRAFFIC_SCALE = 0.1
FAULTS = FaultConfig(duplicate_rate=0.02, out_of_order_rate=0.03, malformed_rate=0.02)


def build_small_lake(spark, root: Path, name: str) -> Settings:
    """Write the seeded events' lake under `root`; settings pointing at it."""
    settings = Settings(
        lake_root=str(root / "lake"),
        checkpoint_root=str(root / "checkpoints"),
        topic_sales=f"{name}.sales",
        topic_clickstream=f"{name}.clickstream",
        topic_inventory=f"{name}.inventory",
    )
    catalog = build_catalog(SEED)
    write_reference_tables(settings, catalog)
    simulator = ShopSimulator(catalog, SEED, SimulatedClock(START), traffic_scale=TRAFFIC_SCALE)
    messages = list(
        MessageStream(
            settings, itertools.islice(simulator, EVENTS), FaultInjector(FAULTS, SEED), utc_now
        )
    )
    writer = make_lake_writer(spark, settings)
    for family in FAMILIES:
        processor = FamilyBatchProcessor(plan_for(family.name), settings, writer, spark)
        processor.bind(name)
        topic = settings.topic(family)
        mine = [m for m in messages if m.topic == topic]
        for batch_id, start in enumerate(range(0, len(mine), BATCH)):
            rows = kafka_rows(mine[start : start + BATCH], topic, first_offset=start)
            processor(spark.createDataFrame(rows), batch_id)
        assert processor.input_rows_total == len(mine)
    return settings


def kafka_rows(messages: list[OutboundMessage], topic: str, first_offset: int) -> pa.Table:
    """The records as Spark's Kafka source delivers them (one partition)."""
    now = datetime.now(UTC)
    return pa.Table.from_pylist(
        [
            {
                "key": m.key,
                "value": m.value,
                "topic": topic,
                "partition": 0,
                "offset": first_offset + i,
                "timestamp": now,
                "timestampType": 0,
            }
            for i, m in enumerate(messages)
        ],
        schema=ARROW_SCHEMA,
    )
