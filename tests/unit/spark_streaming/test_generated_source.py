"""The generated source's offsets: deterministic by offset, complete, and paced by
produced_at. Checked against the producer's own message stream."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pyarrow as pa
from pyspark.sql.streaming.datasource import ReadAllAvailable

from producer.clock import SimulatedClock
from producer.faults import FaultConfig
from producer.stream import generate_messages
from retail_lakehouse.contracts import FAMILIES
from retail_lakehouse.settings import Settings
from spark_streaming import generated_source as gs
from spark_streaming.schemas import KAFKA_SCHEMA

SETTINGS = Settings.model_construct()
TOPICS = tuple((f.topic_setting, SETTINGS.topic(f)) for f in FAMILIES)
START = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


def options(**kw: object) -> gs.GeneratorOptions:
    base: dict = dict(topics=(SETTINGS.topic_sales,), topic_names=TOPICS, total_events=120,
                      faults=True, start=START.isoformat(), rows_per_second=0)  # fmt: skip
    return gs.GeneratorOptions(**{**base, **kw})


def producer_values(topic: str, events: int) -> list[bytes]:
    """Independent: the producer's stream with the same seed, clock and faults; the
    shop's timeline is played from 30 days before the send schedule starts."""
    stream = generate_messages(SETTINGS, seed=42, events=events, faults=FaultConfig.demo_defaults(),
                               clock=SimulatedClock(START - timedelta(days=30)),
                               wall_clock=lambda: START)  # fmt: skip
    return [m.value for m in stream if m.topic == topic]


def test_offsets_are_the_topics_messages_in_producer_order() -> None:
    gs._WORKER_CURSORS.clear()
    batch = gs.read_offsets(options(), SETTINGS.topic_sales, 0, 10_000)
    assert batch.schema == gs.ARROW_SCHEMA
    assert gs.ARROW_SCHEMA.names == KAFKA_SCHEMA.fieldNames()
    assert batch.column("value").to_pylist() == producer_values(SETTINGS.topic_sales, 120)
    assert batch.column("offset").to_pylist() == list(range(batch.num_rows))


def test_same_offsets_give_the_same_rows_whatever_was_read_before() -> None:
    opts = options(topics=(SETTINGS.topic_clickstream,))
    topic = SETTINGS.topic_clickstream
    gs._WORKER_CURSORS.clear()
    whole = gs.read_offsets(opts, topic, 0, 60)
    gs._WORKER_CURSORS.clear()  # a restarted worker
    middle = gs.read_offsets(opts, topic, 20, 40)
    tail = gs.read_offsets(opts, topic, 40, 60)  # continues the cached cursor
    assert pa.Table.from_batches([middle, tail]).equals(pa.Table.from_batches([whole.slice(20)]))


def test_unpaced_reader_offers_every_message_and_stops_there() -> None:
    reader = gs.GeneratedStreamReader(options(topics=(SETTINGS.topic_inventory,)))
    start = reader.initialOffset()
    end = reader.latestOffset(start, ReadAllAvailable())
    expected = len(producer_values(SETTINGS.topic_inventory, 120))
    assert end == {SETTINGS.topic_inventory: {"0": expected}}
    assert reader.latestOffset(end, ReadAllAvailable()) == end
    (only,) = reader.partitions(start, end)
    assert (only.start, only.end) == (0, expected)


def test_paced_reader_offers_only_what_has_been_produced_by_now() -> None:
    future = datetime.now(UTC) + timedelta(hours=1)
    reader = gs.GeneratedStreamReader(options(start=future.isoformat(), rows_per_second=10))
    assert reader.latestOffset(reader.initialOffset(), ReadAllAvailable()) == {
        SETTINGS.topic_sales: {"0": 0}
    }
    # every topic: which family the first seconds hold depends on the shop's hour
    # (no till sales at night), the total due does not
    every_topic = tuple(name for _, name in TOPICS)
    past = datetime.now(UTC) - timedelta(seconds=3)  # about 30 events are due
    reader = gs.GeneratedStreamReader(
        options(topics=every_topic, start=past.isoformat(), rows_per_second=10)
    )
    offered = reader.latestOffset(reader.initialOffset(), ReadAllAvailable())
    stamps = [at for _, _, _, at, _ in itertools.islice(gs.messages(reader.options), 200)]
    due = sum(1 for at in stamps if at <= datetime.now(UTC))
    assert 0 < sum(offered[t]["0"] for t in every_topic) <= due < len(stamps)
