"""A shop's recent past, produced in seconds: the simulator on its own clock from some
days back up to shortly before now, published as fast as Kafka takes it.

The demo streams this history first, so its daily and 14-day panels and the inventory
health have days of data behind the live traffic. The catalog is the live run's (the
same seed), the events are not (another seed): a history that replayed the live event
ids would be dropped as duplicates.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

from producer.catalog import build_catalog
from producer.clock import SimulatedClock
from producer.faults import FaultConfig
from producer.kafka_publisher import KafkaPublisher, PublishResult, producer_config
from producer.messages import OutboundMessage
from producer.reference_tables import write_reference_tables
from producer.stream import generate_messages
from retail_lakehouse.settings import Settings

# the history's seed is the live seed plus this, so their event ids differ
HISTORY_SEED_OFFSET = 1_000_003
# the history ends this long before now: its last events are on time, the live ones
# that follow are newer than anything it left in the watermark
ENDS_BEFORE_NOW = timedelta(minutes=15)


def history_start(days: int, now: datetime) -> datetime:
    """Midnight UTC `days` days before `now`'s date."""
    return (now - timedelta(days=days)).replace(hour=0, minute=0, second=0, microsecond=0)


def publish_history(
    settings: Settings, *, days: int, seed: int, now: datetime | None = None
) -> PublishResult:
    """Publish the history at full speed, after the reference tables (the streams read
    the products' safety stock from the first inventory event on), as `run_producer`
    does."""
    write_reference_tables(settings, build_catalog(seed))
    messages = history_messages(settings, days=days, seed=seed, now=now or datetime.now(UTC))
    return KafkaPublisher(producer_config(settings)).publish(messages)


def history_messages(
    settings: Settings, *, days: int, seed: int, now: datetime
) -> Iterator[OutboundMessage]:
    """The shop from `days` days back (midnight UTC) to shortly before `now`, with the
    demo's faults."""
    clock = SimulatedClock(history_start(days, now))
    until = now - ENDS_BEFORE_NOW
    stream = generate_messages(
        settings,
        seed=seed + HISTORY_SEED_OFFSET,
        events=None,
        faults=FaultConfig.demo_defaults(),
        clock=clock,
        catalog=build_catalog(seed),
    )
    return itertools.takewhile(lambda _message: clock.now() < until, stream)
