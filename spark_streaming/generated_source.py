"""The seeded producer as a Spark streaming source: mock mode with no Kafka and no broker.

`KAFKA_SOURCE=generated` makes `sources.read_kafka_stream` read from here instead of
Kafka. Rows have Spark's kafka schema (key, value, topic, partition, offset,
timestamp, timestampType), so the same foreachBatch code, transforms and writers
run unchanged.

Determinism by offset: the producer's message sequence (simulated clock, seeded
faults) is one global list; each topic has one partition, and offset k of a topic
is the k-th message of that topic in the list. `produced_at` (also the Kafka
timestamp) follows a schedule, `startTime + n / rowsPerSecond`, with `startTime`
kept beside the checkpoints, so the same options give the same bytes at the same
offsets, also after a restart. A message becomes readable when its produced_at has
passed (rowsPerSecond 0: all at once); `totalEvents` ends the sequence.
"""

from __future__ import annotations

import bisect
import itertools
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.datasource import DataSource, DataSourceStreamReader, InputPartition
from pyspark.sql.pandas.types import to_arrow_schema
from pyspark.sql.streaming.datasource import ReadAllAvailable, ReadLimit, ReadMaxRows
from pyspark.sql.types import StructType

from retail_lakehouse.contracts import FAMILIES
from retail_lakehouse.settings import Settings, is_remote
from spark_streaming.schemas import KAFKA_SCHEMA

SOURCE_NAME = "generated_retail"
ARROW_SCHEMA = to_arrow_schema(KAFKA_SCHEMA, timezone="UTC")
CREATE_TIME = 0  # Spark's timestampType for a producer-stamped timestamp
_ROWS_PER_ARROW_BATCH = 10_000
Offsets = dict[str, dict[str, int]]  # Spark's JSON form: topic -> {"0": next offset}


@dataclass(frozen=True)
class GeneratorOptions:
    """What fixes the message sequence (seed, clock start, faults, topic names) plus pacing."""

    topics: tuple[str, ...]
    topic_names: tuple[tuple[str, str], ...]  # (topic setting, topic) for every family
    seed: int = 42
    total_events: int | None = None
    faults: bool = True
    start: str | None = None  # ISO time of the simulated clock's start
    rows_per_second: float = 1000.0
    max_offsets_per_trigger: int | None = None
    history_days: float = 30.0  # how far back of `start` the shop's timeline begins

    @classmethod
    def parse(cls, options: dict[str, str]) -> GeneratorOptions:
        opts = {k.lower(): v for k, v in options.items()}
        topics = tuple(t.strip() for t in opts.get("subscribe", "").split(",") if t.strip())
        if not topics:
            raise ValueError(f"{SOURCE_NAME}: option `subscribe` is required")
        names = tuple((fam.topic_setting, opts.get(f"topic.{fam.name}", "")) for fam in FAMILIES)
        total = opts.get("totalevents")
        cap = opts.get("maxoffsetspertrigger")
        rate = float(opts.get("rowspersecond", "1000"))
        if rate <= 0 and not total:
            raise ValueError(f"{SOURCE_NAME}: rowsPerSecond=0 (unpaced) needs totalEvents")
        return cls(
            topics=topics,
            topic_names=names,
            seed=int(opts.get("seed", "42")),
            total_events=int(total) if total else None,
            faults=opts.get("faults", "true").lower() != "false",
            start=opts.get("starttime") or None,
            rows_per_second=rate,
            max_offsets_per_trigger=int(cap) if cap else None,
            history_days=float(opts.get("historydays", "30")),
        )

    def sequence_key(self) -> tuple[Any, ...]:
        return (
            self.topic_names,
            self.seed,
            self.total_events,
            self.faults,
            self.start,
            self.rows_per_second,
            self.history_days,
        )


def send_times(start: datetime, rate: float) -> Callable[[], datetime]:
    """produced_at of the n-th event: start + n / rate (all at `start` when rate is 0).

    The schedule, not the wall clock, stamps events, so the bytes at an offset never
    change; the reader admits an event once its produced_at has passed, so when the
    stream keeps up, produced_at is the moment it became readable and the pipeline's
    produce-to-gold latency stays meaningful.
    """
    from producer.clock import to_millisecond

    counter = itertools.count()
    step = timedelta(seconds=1 / rate) if rate > 0 else timedelta(0)
    return lambda: to_millisecond(start + next(counter) * step)


def messages(
    options: GeneratorOptions, wall_clock: Callable[[], datetime] | None = None
) -> Iterator[tuple[str, bytes, bytes, datetime, datetime]]:
    """The global sequence: (topic, key, value, produced_at, simulated time) in
    producer order.

    Event times follow the producer's simulated clock from `start - historyDays`
    and produced_at follows `send_times`; with a `wall_clock`, event times start at
    `start` and the wall clock stamps produced_at.
    """
    from producer.clock import DEFAULT_START, SimulatedClock
    from producer.faults import FaultConfig
    from producer.stream import generate_messages

    start = datetime.fromisoformat(options.start) if options.start else DEFAULT_START
    stamp = wall_clock or send_times(start, options.rows_per_second)
    last = [start]

    def stamped() -> datetime:
        last[0] = stamp()
        return last[0]

    topics: dict[str, Any] = {setting: name for setting, name in options.topic_names if name}
    # against the send schedule the shop's simulated timeline runs far faster, so it is
    # played out of the past: an event stamped after its own arrival is quarantined
    # as future_event_time. About 26,000 events make a shop day, so the default 30 days
    # last about 780,000 events; longer runs set historyDays (GENERATED_HISTORY_DAYS).
    # A wall clock (the batch script) sends everything long after the simulated days.
    clock = SimulatedClock(start if wall_clock else start - timedelta(days=options.history_days))
    stream = generate_messages(
        Settings.model_construct(**topics),
        seed=options.seed,
        events=options.total_events,
        faults=FaultConfig.demo_defaults() if options.faults else FaultConfig.none(),
        clock=clock,
        wall_clock=stamped,
    )
    for message in stream:
        yield message.topic, message.key, message.value, last[0], clock.now()


class TopicCursor:
    """Messages of one topic with their offsets, generated lazily and resumable."""

    def __init__(self, options: GeneratorOptions, topic: str) -> None:
        self.topic = topic
        self.next_offset = 0
        self.global_position = 0  # messages of all topics consumed so far
        self._messages = messages(options)

    def take_until(self, offset: int) -> list[tuple[int, bytes, bytes, datetime]]:
        """Messages from next_offset up to (not including) `offset`; fewer at the end."""
        out: list[tuple[int, bytes, bytes, datetime]] = []
        if self.next_offset >= offset:
            return out
        for topic, key, value, at, _ in self._messages:
            self.global_position += 1
            if topic != self.topic:
                continue
            out.append((self.next_offset, key, value, at))
            self.next_offset += 1
            if self.next_offset >= offset:
                break
        return out


class SequenceIndex:
    """Driver side: which topic each message of the sequence goes to, generated once
    and shared by the queries of one process (each reads one topic)."""

    def __init__(self, options: GeneratorOptions) -> None:
        self._messages = messages(options)
        self.length = 0
        self.positions: dict[str, list[int]] = {}  # topic -> global positions, ascending
        self.produced_at: list[datetime] = []  # per global position, non-decreasing
        self.ended = False
        self._lock = threading.Lock()

    def extend_to(self, length: int) -> None:
        with self._lock:
            wanted = max(0, length - self.length)
            for topic, _, _, at, _ in itertools.islice(self._messages, wanted):
                self.positions.setdefault(topic, []).append(self.length)
                self.length += 1
                self.produced_at.append(at)
                wanted -= 1
            self.ended = self.ended or wanted > 0

    def length_produced_by(self, moment: datetime, step: int = 1_000) -> int:
        """How many messages have a produced_at at or before `moment` (the readable ones)."""
        while not self.ended and (not self.produced_at or self.produced_at[-1] <= moment):
            self.extend_to(self.length + step)
        return bisect.bisect_right(self.produced_at, moment)

    def offset_at(self, topic: str, length: int) -> int:
        """The topic's next offset once the first `length` messages are out."""
        self.extend_to(length)
        return bisect.bisect_left(self.positions.get(topic, []), length)


_DRIVER_INDEXES: dict[tuple[Any, ...], SequenceIndex] = {}
_DRIVER_LOCK = threading.Lock()


def driver_index(options: GeneratorOptions) -> SequenceIndex:
    with _DRIVER_LOCK:
        key = options.sequence_key()
        if key not in _DRIVER_INDEXES:
            _DRIVER_INDEXES[key] = SequenceIndex(options)
        return _DRIVER_INDEXES[key]


# Python workers are reused between tasks: keep each topic's cursor so consecutive
# micro-batches continue where the last one stopped instead of regenerating.
_WORKER_CURSORS: dict[tuple[Any, ...], TopicCursor] = {}


def read_offsets(options: GeneratorOptions, topic: str, start: int, end: int) -> pa.RecordBatch:
    """Offsets [start, end) of `topic` as one Arrow batch in KAFKA_SCHEMA's form."""
    key = (*options.sequence_key(), topic)
    cursor = _WORKER_CURSORS.get(key)
    if cursor is None or cursor.next_offset > start:
        cursor = _WORKER_CURSORS[key] = TopicCursor(options, topic)
    if cursor.next_offset < start:
        cursor.take_until(start)
    rows = cursor.take_until(end) if end > start else []
    return pa.RecordBatch.from_arrays(
        [
            pa.array([r[1] for r in rows], pa.binary()),
            pa.array([r[2] for r in rows], pa.binary()),
            pa.array([topic] * len(rows), pa.string()),
            pa.array([0] * len(rows), pa.int32()),
            pa.array([r[0] for r in rows], pa.int64()),
            pa.array([r[3] for r in rows], pa.timestamp("us", tz="UTC")),
            pa.array([CREATE_TIME] * len(rows), pa.int32()),
        ],
        schema=ARROW_SCHEMA,
    )


@dataclass(frozen=True)
class OffsetRange(InputPartition):
    topic: str
    start: int
    end: int


class GeneratedStreamReader(DataSourceStreamReader):
    """Driver: how far each topic may be read by now. Executors: generate the range."""

    def __init__(self, options: GeneratorOptions) -> None:
        self.options = options

    def initialOffset(self) -> Offsets:
        return {t: {"0": 0} for t in self.options.topics}

    def getDefaultReadLimit(self) -> ReadLimit:
        cap = self.options.max_offsets_per_trigger
        return ReadMaxRows(cap) if cap else ReadAllAvailable()

    def latestOffset(self, start: Offsets, limit: ReadLimit) -> Offsets:
        index = driver_index(self.options)
        # a message is readable once its produced_at has passed; the last one
        # generated may be later than now, so it is left for the next trigger
        allowed = index.length_produced_by(datetime.now(UTC))
        end: Offsets = {}
        for topic in self.options.topics:
            begin = start.get(topic, {}).get("0", 0)
            available = index.offset_at(topic, allowed)
            if isinstance(limit, ReadMaxRows):
                available = min(available, begin + limit.max_rows)
            end[topic] = {"0": max(begin, available)}
        return end

    def partitions(self, start: Offsets, end: Offsets) -> Sequence[OffsetRange]:
        return [
            OffsetRange(t, start.get(t, {}).get("0", 0), end[t]["0"])
            for t in sorted(end)
            if end[t]["0"] > start.get(t, {}).get("0", 0)
        ]

    def read(self, partition: InputPartition) -> Iterator[pa.RecordBatch]:
        assert isinstance(partition, OffsetRange)
        for low in range(partition.start, partition.end, _ROWS_PER_ARROW_BATCH):
            high = min(partition.end, low + _ROWS_PER_ARROW_BATCH)
            yield read_offsets(self.options, partition.topic, low, high)

    def commit(self, end: Offsets) -> None:
        """Nothing to release: the sequence is regenerated from the options."""


class GeneratedDataSource(DataSource):
    """`spark.dataSource.register(GeneratedDataSource)`, then `format("generated_retail")`."""

    @classmethod
    def name(cls) -> str:
        return SOURCE_NAME

    def schema(self) -> StructType:
        return KAFKA_SCHEMA

    def streamReader(self, schema: StructType) -> GeneratedStreamReader:
        return GeneratedStreamReader(GeneratorOptions.parse(dict(self.options)))


def stream_start(settings: Settings, not_before: datetime | None = None) -> str:
    """When the generated stream began: kept beside the checkpoints, so a restart
    regenerates the same produced_at values (and bytes) at the same offsets. A new
    stream begins now, or at `not_before` when that is later (nothing is admitted
    before it: the bench starts its queries first and then lets the traffic begin)."""
    root = settings.resolved_checkpoint_root
    begins = max(datetime.now(UTC), not_before or datetime.now(UTC))
    start = begins.replace(microsecond=0).isoformat()
    if is_remote(root):
        return start
    marker = Path(root) / "_generated_source_start"
    if marker.exists():
        return marker.read_text().strip()
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text(start)
    return start


def generated_stream_options(settings: Settings, topics: list[str]) -> dict[str, str]:
    options = {
        "subscribe": ",".join(topics),
        "startTime": stream_start(settings),
        "seed": str(settings.producer_seed),
        "rowsPerSecond": str(settings.generated_rate),
        "faults": str(settings.generated_faults).lower(),
        "historyDays": str(settings.generated_history_days),
        "maxOffsetsPerTrigger": str(settings.max_offsets_per_trigger),
        **{f"topic.{fam.name}": settings.topic(fam) for fam in FAMILIES},
    }
    if settings.generated_events:
        options["totalEvents"] = str(settings.generated_events)
    return options


def read_generated_stream(spark: SparkSession, settings: Settings, topics: list[str]) -> DataFrame:
    """A streaming DataFrame in Spark's kafka schema, generated from the seeded producer."""
    spark.dataSource.register(GeneratedDataSource)
    options = generated_stream_options(settings, topics)
    return spark.readStream.format(SOURCE_NAME).options(**options).load()
