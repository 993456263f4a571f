"""Replay simulated shop days into the lake through the streaming job's batch function,
then run the warehouse half: `python -m mock.replay_lake --events 20000 --traffic-scale 0.25`.

Seeded events (duplicates, disorder and malformed records included) are cut into
Kafka-shaped micro-batches and handed to PipelineBatchProcessor, what `foreachBatch`
calls in the running job: it validates, de-duplicates and writes bronze, silver,
quarantine, gold and ops.stream_batches. Only the streaming query's Kafka reader is
left out, so no broker is needed and days of shop history take seconds.
Because the events are generated before they are processed, produce-to-gold latency
here measures the replay's backlog, not the live stream's (`lakehouse demo` does that).
"""

from __future__ import annotations

import argparse
import itertools
import logging
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa

from producer.catalog import build_catalog
from producer.clock import DEFAULT_START, SimulatedClock, utc_now
from producer.faults import FaultConfig, FaultInjector
from producer.messages import OutboundMessage
from producer.reference_tables import write_reference_tables
from producer.simulator import ShopSimulator
from producer.stream import MessageStream
from retail_lakehouse import logs
from retail_lakehouse.contracts import FAMILIES
from retail_lakehouse.logs import kv
from retail_lakehouse.settings import Settings, is_remote

log = logging.getLogger(__name__)


def replay_into_lake(
    spark,
    settings: Settings,
    *,
    events: int,
    seed: int,
    start: datetime = DEFAULT_START,
    traffic_scale: float = 1.0,
    faults: FaultConfig | None = None,
    batch_size: int = 5_000,
) -> dict[str, int]:
    """Write `events` simulated events (plus faults) into the lake; records per topic."""
    from spark_streaming.batch.plans import PLANS
    from spark_streaming.batch.processor import PipelineBatchProcessor
    from spark_streaming.lake_writer import make_lake_writer
    from spark_streaming.transforms.validation import validated_records

    catalog = build_catalog(seed)
    write_reference_tables(settings, catalog)
    simulator = ShopSimulator(catalog, seed, SimulatedClock(start), traffic_scale=traffic_scale)
    injector = FaultInjector(faults or FaultConfig.demo_defaults(), seed)
    messages = list(MessageStream(settings, itertools.islice(simulator, events), injector, utc_now))
    processor = PipelineBatchProcessor(
        PLANS.values(), settings, make_lake_writer(spark, settings), query_name="replay"
    )
    processor.bind("replay")
    next_offset: dict[str, int] = {}
    for batch_id, first in enumerate(range(0, len(messages), batch_size)):
        rows = kafka_rows(messages[first : first + batch_size], next_offset)
        records = validated_records(spark.createDataFrame(rows), processor.families)
        processor(records, batch_id)
        log.info(kv("replayed", done=first + rows.num_rows, of=len(messages)))
    return {settings.topic(f): processor.records_read[settings.topic(f)] for f in FAMILIES}


def kafka_rows(messages: list[OutboundMessage], next_offset: dict[str, int]) -> pa.Table:
    """The records as Spark's Kafka source delivers them (one partition per topic);
    `next_offset` carries each topic's offsets from one batch to the next."""
    from spark_streaming.generated_source import ARROW_SCHEMA

    now = datetime.now(UTC)
    rows = []
    for m in messages:
        offset = next_offset.get(m.topic, 0)
        next_offset[m.topic] = offset + 1
        rows.append(
            {
                "key": m.key,
                "value": m.value,
                "topic": m.topic,
                "partition": 0,
                "offset": offset,
                "timestamp": now,
                "timestampType": 0,
            }
        )
    return pa.Table.from_pylist(rows, schema=ARROW_SCHEMA)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=80_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument(
        "--traffic-scale",
        type=float,
        default=1.0,
        help="Shoppers per hour relative to the default shop (about 26,500 events a day).",
    )
    parser.add_argument("--batch-size", type=int, default=10_000, help="Records per batch.")
    parser.add_argument("--outputs", type=Path, default=Path("outputs"))
    args = parser.parse_args(argv)
    logs.configure()
    from loaders.warehouse_pipeline import run_warehouse_pipeline
    from mock.summary import warehouse_lines
    from retail_lakehouse.warehouse import emulator_path
    from spark_streaming.session import build_session

    settings = Settings()
    # a fresh lake and, when emulated, a fresh warehouse: the replay starts the shop over
    roots = [settings.resolved_lake_root, settings.resolved_checkpoint_root]
    if settings.uses_warehouse_emulator:
        roots.append(str(emulator_path(settings)))
    for root in roots:
        if not is_remote(root) and Path(root).exists():
            shutil.rmtree(root)
    spark = build_session(settings, app_name="retail-lakehouse-replay")
    try:
        replayed = replay_into_lake(
            spark,
            settings,
            events=args.events,
            seed=args.seed,
            traffic_scale=args.traffic_scale,
            batch_size=args.batch_size,
        )
    finally:
        spark.stop()
    report = run_warehouse_pipeline(
        settings, max_age_minutes=60, csv_path=args.outputs / "aggregates_daily.csv"
    )
    lines = {"records replayed per topic": replayed, **warehouse_lines(report)}
    print("\n".join(f"{k}: {v}" for k, v in lines.items()), flush=True)


if __name__ == "__main__":
    main()
