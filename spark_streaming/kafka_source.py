"""Kafka as a Spark streaming source in Python (confluent-kafka), for when the JVM
connector `spark-sql-kafka-0-10` cannot be loaded.

Register with `spark.dataSource.register(KafkaDataSource)` and read with
`spark.readStream.format("confluent_kafka")`. Options and output match Spark's
built-in `kafka` source: `kafka.bootstrap.servers`, `subscribe`, `startingOffsets`,
`maxOffsetsPerTrigger`, `failOnDataLoss`, `kafkaConsumer.pollTimeoutMs`; any other
`kafka.*` option goes to librdkafka. `outageTolerance` (e.g. "3 minutes") is how long
an unreachable broker is waited out, retrying with backoff, before the query fails.
Offsets are Spark's JSON form `{"topic": {"0": 23}}` (next offset to read), so the
checkpoint holds them.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

import pyarrow as pa
from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition
from pyspark.sql.datasource import DataSource, DataSourceStreamReader, InputPartition
from pyspark.sql.pandas.types import to_arrow_schema
from pyspark.sql.streaming.datasource import (
    ReadAllAvailable,
    ReadLimit,
    ReadMaxRows,
    SupportsTriggerAvailableNow,
)
from pyspark.sql.types import StructType

from retail_lakehouse.durations import duration_seconds
from retail_lakehouse.logs import kv
from spark_streaming.outage import DEFAULT_KAFKA_OUTAGE_TOLERANCE_S, Outage, ride_out
from spark_streaming.schemas import KAFKA_SCHEMA

log = logging.getLogger(__name__)

SOURCE_NAME = "confluent_kafka"
EARLIEST, LATEST = -2, -1  # Spark's markers inside a startingOffsets JSON
PartitionOffsets = dict[str, dict[str, int]]  # topic -> partition -> next offset
Position = tuple[str, int]  # (topic, partition)
StartingOffsets = Literal["earliest", "latest"] | PartitionOffsets

# Spark checks yielded batches against the declared schema type for type
ARROW_SCHEMA = to_arrow_schema(KAFKA_SCHEMA, timezone="UTC")
# librdkafka's timestamp types mapped to the Java client's ids that Spark reports
_SPARK_TIMESTAMP_TYPE = {0: -1, 1: 0, 2: 1}
_POLL_STEP_S = 0.1  # short consume() calls so gaps at a range's end cost one step
_PROBE_TIMEOUT_S = 2.0
_REQUEST_TIMEOUT_S = 10.0
_ROWS_PER_BATCH = 10_000
_STALL_WARNING_S = 10.0  # a read waiting on a silent broker says so this often
# librdkafka errors that mean "the broker is away or slow", worth waiting out
_TRANSIENT_CODES = frozenset(
    {
        KafkaError._TIMED_OUT,
        KafkaError._TRANSPORT,
        KafkaError._ALL_BROKERS_DOWN,
        KafkaError._RESOLVE,
        KafkaError._WAIT_COORD,
        KafkaError.REQUEST_TIMED_OUT,
        KafkaError.LEADER_NOT_AVAILABLE,
        KafkaError.NOT_LEADER_FOR_PARTITION,
        KafkaError.BROKER_NOT_AVAILABLE,
        KafkaError.NETWORK_EXCEPTION,
        KafkaError.UNKNOWN_TOPIC_OR_PART,
    }
)
T = TypeVar("T")


class KafkaSourceError(RuntimeError):
    """The Kafka source cannot read what Spark asked for; the message says why."""


class KafkaBrokerTimeoutError(KafkaSourceError):
    """The broker did not answer in time: worth waiting out."""


def is_transient_kafka_error(error: BaseException) -> bool:
    """A broker that is away or slow, as opposed to a wrong setting or lost data."""
    if isinstance(error, KafkaBrokerTimeoutError):
        return True
    if isinstance(error, KafkaException) and error.args and isinstance(error.args[0], KafkaError):
        kafka_error = error.args[0]
        return not kafka_error.fatal() and (
            kafka_error.retriable() or kafka_error.code() in _TRANSIENT_CODES
        )
    return False


@dataclass(frozen=True)
class SourceOptions:
    """The reader options, parsed once on the driver and pickled to the executors."""

    client_config: Mapping[str, str]
    topics: tuple[str, ...]
    starting_offsets: StartingOffsets = "latest"
    max_offsets_per_trigger: int | None = None
    fail_on_data_loss: bool = True
    poll_timeout_s: float = 120.0
    outage_tolerance_s: float = DEFAULT_KAFKA_OUTAGE_TOLERANCE_S

    @classmethod
    def parse(cls, options: Mapping[str, str]) -> SourceOptions:
        opts = {k.lower(): v for k, v in options.items()}
        if "assign" in opts or "subscribepattern" in opts:
            raise ValueError(
                f"{SOURCE_NAME} supports `subscribe` only, not assign/subscribePattern"
            )
        topics = tuple(t.strip() for t in opts.get("subscribe", "").split(",") if t.strip())
        config = {k[len("kafka.") :]: v for k, v in opts.items() if k.startswith("kafka.")}
        if not topics or "bootstrap.servers" not in config:
            raise ValueError("options `subscribe` and `kafka.bootstrap.servers` are required")
        max_offsets = opts.get("maxoffsetspertrigger")
        return cls(
            client_config=config,
            topics=topics,
            starting_offsets=parse_starting_offsets(opts.get("startingoffsets", "latest"), topics),
            max_offsets_per_trigger=int(max_offsets) if max_offsets else None,
            fail_on_data_loss=opts.get("failondataloss", "true").lower() != "false",
            poll_timeout_s=int(opts.get("kafkaconsumer.polltimeoutms", "120000")) / 1000,
            outage_tolerance_s=duration_seconds(
                opts.get("outagetolerance", f"{DEFAULT_KAFKA_OUTAGE_TOLERANCE_S} seconds")
            ),
        )

    @property
    def outage(self) -> Outage:
        return Outage(
            "kafka",
            self.client_config["bootstrap.servers"],
            self.outage_tolerance_s,
            "KAFKA_OUTAGE_TOLERANCE",
        )

    def consumer_config(self) -> dict[str, str | int | bool]:
        return {
            # required by librdkafka but never joined: progress lives in Spark's checkpoint
            "group.id": "spark-kafka-source-python",
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "isolation.level": "read_uncommitted",  # what Spark's Java consumer defaults to
            # consumers are reassigned per range; a long-poll fetch left at a range end
            # would hold the next assignment back by up to this long
            "fetch.wait.max.ms": 10,
            "log.connection.close": False,  # brokers close idle pooled connections: not news
            "auto.offset.reset": "error" if self.fail_on_data_loss else "earliest",
            **self.client_config,
        }


def parse_starting_offsets(text: str, topics: Sequence[str]) -> StartingOffsets:
    """`earliest`, `latest` or Spark's JSON `{"topic": {"0": 23, "1": -2}}`."""
    lowered = text.strip().lower()
    if lowered in ("earliest", "latest"):
        return "earliest" if lowered == "earliest" else "latest"
    try:
        parsed = json.loads(text)
        offsets = {t: {str(int(p)): int(o) for p, o in ps.items()} for t, ps in parsed.items()}
    except (ValueError, TypeError, AttributeError) as exc:
        raise ValueError(
            'startingOffsets must be earliest, latest or JSON like {"topic":{"0":23}}: '
            + repr(text)
        ) from exc
    unknown = set(offsets) - set(topics)
    if unknown:
        raise ValueError(f"startingOffsets names topics that are not subscribed: {sorted(unknown)}")
    return offsets


def flatten(offsets: PartitionOffsets) -> dict[Position, int]:
    return {(t, int(p)): o for t, ps in offsets.items() for p, o in ps.items()}


def nest(offsets: Mapping[Position, int]) -> PartitionOffsets:
    """Spark's JSON form, sorted: Spark compares offsets as JSON strings, so
    equal offsets must serialise identically or an idle trigger runs a batch."""
    nested: PartitionOffsets = {}
    for (topic, partition), offset in sorted(offsets.items()):
        nested.setdefault(topic, {})[str(partition)] = offset
    return nested


def resolve_starting_offsets(
    spec: StartingOffsets, earliest: Mapping[Position, int], latest: Mapping[Position, int]
) -> dict[Position, int]:
    """Concrete start per partition; partitions the JSON leaves out start at earliest."""
    if spec == "earliest":
        return dict(earliest)
    if spec == "latest":
        return dict(latest)
    wanted = flatten(spec)  # type: ignore[arg-type]
    resolved = {}
    for position, low in earliest.items():
        offset = wanted.get(position, EARLIEST)
        resolved[position] = {EARLIEST: low, LATEST: latest[position]}.get(offset, offset)
    return resolved


def rate_limit(
    max_rows: int, start: Mapping[Position, int], latest: Mapping[Position, int]
) -> dict[Position, int]:
    """Spread `max_rows` over partitions in proportion to their backlog, as Spark's
    KafkaMicroBatchStream.rateLimit does (a partition with a backlog gets at least one)."""
    backlog = {p: end - start[p] for p, end in latest.items() if p in start and end > start[p]}
    total = sum(backlog.values())
    if total < 1:
        return dict(latest)
    limited = {}
    for position, end in latest.items():
        if position not in backlog:
            limited[position] = end
            continue
        share = max_rows * backlog[position] / total
        rows = math.ceil(share) if share < 1 else math.floor(share)
        limited[position] = min(end, start[position] + rows)
    return limited


def record_batch(topic: str, partition: int, messages: Sequence[Message]) -> pa.RecordBatch:
    """Messages as an Arrow batch exactly matching KAFKA_SCHEMA's Arrow form."""
    stamps = [m.timestamp() for m in messages]
    micros = pa.array([ms * 1000 for _, ms in stamps], pa.int64())
    columns = [
        pa.array([m.key() for m in messages], pa.binary()),
        pa.array([m.value() for m in messages], pa.binary()),
        pa.array([topic] * len(messages), pa.string()),
        pa.array([partition] * len(messages), pa.int32()),
        pa.array([m.offset() for m in messages], pa.int64()),
        micros.cast(pa.timestamp("us", tz="UTC")),
        pa.array([_SPARK_TIMESTAMP_TYPE.get(kind, -1) for kind, _ in stamps], pa.int32()),
    ]
    return pa.RecordBatch.from_arrays(columns, schema=ARROW_SCHEMA)


class KafkaOffsetReader:
    """Driver side: partitions and their earliest/latest offsets.

    Some brokers (Tansu) answer ListOffsets(latest) with the base offset of the last
    record batch + 1, hiding the rest of that batch. So when a partition's reported
    end moves, fetch from just before it: the high watermark in a Fetch response is
    right on every broker, and on real Kafka it equals the reported end anyway.
    """

    def __init__(self, config: Mapping[str, Any]) -> None:
        self._consumer = Consumer(dict(config))
        self._ends: dict[Position, tuple[int, int]] = {}  # reported end -> true end

    def positions(self, topics: Sequence[str]) -> list[Position]:
        found: list[Position] = []
        for topic in topics:
            metadata = self._consumer.list_topics(topic, timeout=_REQUEST_TIMEOUT_S).topics[topic]
            if metadata.error is None:  # a missing topic has no partitions yet
                found.extend((topic, p) for p in sorted(metadata.partitions))
        return found

    def watermarks(self, positions: Sequence[Position]) -> dict[Position, tuple[int, int]]:
        marks = {}
        for topic, partition in positions:
            mark = self._consumer.get_watermark_offsets(
                TopicPartition(topic, partition), timeout=_REQUEST_TIMEOUT_S
            )
            if mark is None:
                raise KafkaBrokerTimeoutError(
                    f"no offsets for {topic}[{partition}] within the timeout"
                )
            marks[(topic, partition)] = mark
        return marks

    def earliest(self, positions: Sequence[Position]) -> dict[Position, int]:
        return {p: low for p, (low, _) in self.watermarks(positions).items()}

    def latest(self, positions: Sequence[Position]) -> dict[Position, int]:
        marks = self.watermarks(positions)
        reported = {p: high for p, (_, high) in marks.items()}
        moved = [
            p
            for p, (low, high) in marks.items()
            if high > low and self._ends.get(p, (None, high))[0] != high
        ]
        if moved:
            for p, end in self._probe(moved, reported).items():
                self._ends[p] = (reported[p], end)
        # an unmoved reported end means no new record batch, so the true end stands
        return {
            p: self._ends[p][1] if self._ends.get(p, (None, 0))[0] == high else high
            for p, high in reported.items()
        }

    def _probe(
        self, moved: list[Position], reported: Mapping[Position, int]
    ) -> dict[Position, int]:
        """High watermarks from Fetch responses, fetching from each reported end - 1."""
        self._consumer.assign([TopicPartition(t, p, reported[(t, p)] - 1) for t, p in moved])
        deadline = time.monotonic() + _PROBE_TIMEOUT_S
        answered: dict[Position, int] = {}
        try:
            while len(answered) < len(moved) and time.monotonic() < deadline:
                self._consumer.consume(num_messages=100_000, timeout=0.005)  # drain, never kept
                for topic, partition in moved:
                    _, high = self._consumer.get_watermark_offsets(
                        TopicPartition(topic, partition), cached=True
                    )
                    if high >= reported[(topic, partition)]:
                        answered[(topic, partition)] = high
        finally:
            self._consumer.unassign()
        if len(answered) < len(moved):
            log.warning(kv("kafka_probe_timeout", partitions=sorted(set(moved) - set(answered))))
        return answered

    def close(self) -> None:
        self._consumer.close()


_EXECUTOR_CONSUMERS: dict[tuple[tuple[str, Any], ...], Consumer] = {}


def executor_consumer(config: Mapping[str, Any]) -> Consumer:
    """One consumer per Python worker and config, reused across tasks: connecting
    (TLS, SASL) can cost more than reading a small range."""
    key = tuple(sorted(config.items()))
    if key not in _EXECUTOR_CONSUMERS:
        _EXECUTOR_CONSUMERS[key] = Consumer(dict(config))
    return _EXECUTOR_CONSUMERS[key]


def drop_executor_consumer(config: Mapping[str, Any]) -> None:
    """Close a consumer that failed, so the task's retry connects afresh."""
    consumer = _EXECUTOR_CONSUMERS.pop(tuple(sorted(config.items())), None)
    if consumer is not None:
        consumer.close()


@dataclass(frozen=True)
class KafkaRange(InputPartition):
    """Offsets [start, end) of one Kafka partition: one Spark input partition."""

    topic: str
    partition: int
    start: int
    end: int


def read_range(
    consumer: Consumer, krange: KafkaRange, poll_timeout_s: float, outage: Outage | None = None
) -> Iterator[pa.RecordBatch]:
    """Every message of the range, or KafkaSourceError; offsets missing inside the
    range (compaction, transaction markers) are skipped, never waited for. A broker
    that goes silent is waited for up to the longer of the poll timeout and the
    outage budget, with a warning every _STALL_WARNING_S."""
    topic, partition, end = krange.topic, krange.partition, krange.end
    patience_s = max(poll_timeout_s, outage.budget_s if outage else 0.0)
    next_warning_s = _STALL_WARNING_S
    consumer.assign([TopicPartition(topic, partition, krange.start)])
    try:
        next_offset, last_progress = krange.start, time.monotonic()
        while next_offset < end:
            # ask for exactly what is left: consume() waits for all it was asked for
            wanted = min(end - next_offset, _ROWS_PER_BATCH)
            messages = [
                m for m in consumer.consume(wanted, timeout=_POLL_STEP_S) if not _skip_error(m)
            ]
            # an offset reset (failOnDataLoss=false) may deliver offsets before the range
            rows = [m for m in messages if krange.start <= _offset(m) < end]
            if rows:
                yield record_batch(topic, partition, rows)
                next_offset, last_progress = _offset(rows[-1]) + 1, time.monotonic()
                next_warning_s = _STALL_WARNING_S
            if any(_offset(m) >= end for m in messages):
                break  # reached a message past the range: the rest were gaps
            if len(messages) < wanted:
                position = consumer.position([TopicPartition(topic, partition)])[0].offset
                if position >= end:  # the consumer stepped over markers at the end
                    break
            stalled_s = time.monotonic() - last_progress
            if outage is not None and stalled_s > next_warning_s:
                next_warning_s += _STALL_WARNING_S
                log.warning(_stall_event(outage, krange, next_offset, stalled_s))
            if stalled_s > patience_s and outage is not None and outage.budget_s >= poll_timeout_s:
                raise outage.too_long(
                    f"read of {topic}[{partition}] at offset {next_offset}",
                    stalled_s,
                    KafkaBrokerTimeoutError("no records arrived"),
                    symptom=f"sent no records for {stalled_s:.0f}s although it reported "
                    f"offsets up to {end}",
                )
            if stalled_s > patience_s:
                raise KafkaSourceError(
                    f"read {topic}[{partition}] offsets [{krange.start}, {end}) only up to "
                    f"{next_offset} within kafkaConsumer.pollTimeoutMs={poll_timeout_s * 1000:.0f}"
                    "; is the broker reachable and the data still retained?"
                )
    finally:
        consumer.unassign()


def _stall_event(outage: Outage, krange: KafkaRange, next_offset: int, stalled_s: float) -> str:
    return kv(
        "kafka_outage",
        target=outage.target,
        during=f"read of {krange.topic}[{krange.partition}] at offset {next_offset}",
        # the broker reported these offsets: it may be frozen or overloaded, not gone
        symptom="no_records",
        waited_s=round(stalled_s, 1),
        budget_s=outage.budget_s,
    )


def _offset(message: Message) -> int:
    offset = message.offset()
    assert offset is not None, "a consumed message always has an offset"
    return offset


def _skip_error(message: Message) -> bool:
    error = message.error()
    if error is None:
        return False
    if error.code() == KafkaError._PARTITION_EOF:
        return True
    if not error.fatal() and (error.retriable() or error.code() in _TRANSIENT_CODES):
        return True  # librdkafka reconnects by itself; read_range bounds the wait
    if error.code() == KafkaError._AUTO_OFFSET_RESET:
        raise KafkaSourceError(
            f"offsets of {message.topic()}[{message.partition()}] are gone (retention or "
            f"a recreated topic): {error.str()}. Set failOnDataLoss=false to skip them."
        )
    raise KafkaException(error)


def _raise_if_offsets_went_back(
    begin: Mapping[Position, int], latest: Mapping[Position, int]
) -> None:
    """A partition whose end is now before where the query got to was deleted and
    recreated (or truncated): the records in between are gone."""
    behind = {
        f"{t}[{p}]": (begin[(t, p)], end)
        for (t, p), end in latest.items()
        if (t, p) in begin and end < begin[(t, p)]
    }
    if behind:
        raise KafkaSourceError(
            f"Kafka offsets went back (a recreated or truncated topic), read up to vs now: "
            f"{behind}; records may be lost. Set failOnDataLoss=false "
            "(KAFKA_FAIL_ON_DATA_LOSS=false) to skip them, or reset the checkpoint."
        )


class KafkaStreamReader(DataSourceStreamReader, SupportsTriggerAvailableNow):
    """Plans micro-batches on the driver; `read` runs on the executors."""

    def __init__(self, options: SourceOptions) -> None:
        self.options = options
        self._offsets: KafkaOffsetReader | None = None
        self._latest: dict[Position, int] = {}
        self._available_now: dict[Position, int] | None = None

    def __getstate__(self) -> dict[str, Any]:
        # a librdkafka handle cannot be pickled; executors open their own
        return {**self.__dict__, "_offsets": None}

    @property
    def offsets(self) -> KafkaOffsetReader:
        if self._offsets is None:
            self._offsets = KafkaOffsetReader(self.options.consumer_config())
        return self._offsets

    def _ride_out(self, during: str, call: Callable[[], T]) -> T:
        """Driver-side broker calls wait out an outage within the budget."""
        return ride_out(call, self.options.outage, during, is_transient_kafka_error)

    def initialOffset(self) -> PartitionOffsets:
        return self._ride_out("initialOffset", self._initial_offset)

    def _initial_offset(self) -> PartitionOffsets:
        positions = self.offsets.positions(self.options.topics)
        spec = self.options.starting_offsets
        earliest = self.offsets.earliest(positions)
        latest = self.offsets.latest(positions) if spec != "earliest" else earliest
        return nest(resolve_starting_offsets(spec, earliest, latest))

    def getDefaultReadLimit(self) -> ReadLimit:
        limit = self.options.max_offsets_per_trigger
        return ReadMaxRows(limit) if limit else ReadAllAvailable()

    def latestOffset(self, start: PartitionOffsets, limit: ReadLimit) -> PartitionOffsets:
        return self._ride_out("latestOffset", lambda: self._latest_offset(start, limit))

    def _latest_offset(self, start: PartitionOffsets, limit: ReadLimit) -> PartitionOffsets:
        begin = flatten(start)
        latest = self.offsets.latest(self.offsets.positions(self.options.topics))
        self._latest = dict(latest)
        if self._available_now is not None:
            latest = {p: min(end, self._available_now.get(p, 0)) for p, end in latest.items()}
        if self.options.fail_on_data_loss:
            _raise_if_offsets_went_back(begin, latest)
        new = [p for p in latest if p not in begin]
        begin_or_earliest = {**self.offsets.earliest(new), **begin} if new else begin
        # never move backwards (a recreated topic); partitions that vanished keep their offset
        end = {**begin, **{p: max(o, begin_or_earliest[p]) for p, o in latest.items()}}
        if isinstance(limit, ReadMaxRows):
            end = rate_limit(limit.max_rows, begin_or_earliest, end)
        return nest(end)

    def reportLatestOffset(self) -> PartitionOffsets | None:
        return nest(self._latest) if self._latest else None

    def prepareForTriggerAvailableNow(self) -> None:
        self._available_now = self._ride_out(
            "prepareForTriggerAvailableNow",
            lambda: self.offsets.latest(self.offsets.positions(self.options.topics)),
        )

    def partitions(self, start: PartitionOffsets, end: PartitionOffsets) -> Sequence[KafkaRange]:
        return self._ride_out("partitions", lambda: self._partitions(start, end))

    def _partitions(self, start: PartitionOffsets, end: PartitionOffsets) -> Sequence[KafkaRange]:
        begin, until = flatten(start), flatten(end)
        new = [p for p in until if p not in begin]
        begin = {**self.offsets.earliest(new), **begin} if new else begin
        return [
            KafkaRange(topic, partition, begin[(topic, partition)], stop)
            for (topic, partition), stop in sorted(until.items())
            if stop > begin[(topic, partition)]
        ]

    def read(self, partition: InputPartition) -> Iterator[pa.RecordBatch]:
        assert isinstance(partition, KafkaRange)
        config = self.options.consumer_config()
        try:
            yield from read_range(
                executor_consumer(config),
                partition,
                self.options.poll_timeout_s,
                self.options.outage,
            )
        except Exception:
            drop_executor_consumer(config)
            raise

    def commit(self, end: PartitionOffsets) -> None:
        """Nothing to do: progress lives in Spark's checkpoint, not in a consumer group."""

    def stop(self) -> None:
        if self._offsets is not None:
            self._offsets.close()
            self._offsets = None


class KafkaDataSource(DataSource):
    """`spark.dataSource.register(KafkaDataSource)`, then `format("confluent_kafka")`."""

    @classmethod
    def name(cls) -> str:
        return SOURCE_NAME

    def schema(self) -> StructType:
        return KAFKA_SCHEMA

    def streamReader(self, schema: StructType) -> KafkaStreamReader:
        return KafkaStreamReader(SourceOptions.parse(self.options))
