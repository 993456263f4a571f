"""Arrow batches of the Python Kafka source and reading one offset range, no broker."""

from __future__ import annotations

import datetime as dt
import logging

import pyarrow as pa
import pytest
from confluent_kafka import Message, TopicPartition
from pyspark.sql.pandas.types import to_arrow_schema

from spark_streaming import kafka_source
from spark_streaming.kafka_source import (
    ARROW_SCHEMA,
    KafkaRange,
    KafkaSourceError,
    read_range,
    record_batch,
)
from spark_streaming.outage import Outage, OutageTooLongError
from spark_streaming.schemas import KAFKA_SCHEMA


def message(offset: int, key: bytes | None = b"k", value: bytes | None = b"v") -> Message:
    return Message(
        topic="sales",
        partition=2,
        offset=offset,
        key=key,
        value=value,
        timestamp=(1, 1_700_000_000_123),
        error=None,
    )


def test_arrow_schema_is_what_spark_checks_python_sources_against() -> None:
    # Spark rejects a batch unless it equals the declared schema's Arrow form
    assert ARROW_SCHEMA.equals(to_arrow_schema(KAFKA_SCHEMA, timezone="UTC"))


def test_record_batch_columns() -> None:
    log_append = Message(
        topic="sales", partition=2, offset=8, key=None, value=None, timestamp=(2, 5), error=None
    )
    batch = record_batch("sales", 2, [message(7), log_append])
    assert batch.schema.equals(ARROW_SCHEMA)
    assert batch.to_pydict() == {
        "key": [b"k", None],
        "value": [b"v", None],
        "topic": ["sales", "sales"],
        "partition": [2, 2],
        "offset": [7, 8],
        "timestamp": [
            dt.datetime(2023, 11, 14, 22, 13, 20, 123000, tzinfo=dt.UTC),
            dt.datetime(1970, 1, 1, 0, 0, 0, 5000, tzinfo=dt.UTC),
        ],
        "timestampType": [0, 1],  # the Java client's CreateTime and LogAppendTime
    }


class FakeConsumer:
    """Delivers scripted messages; `position` is where the log ends for this consumer."""

    def __init__(self, messages: list[Message], position: int) -> None:
        self.pending = messages
        self.end_position = position
        self.assigned: list[TopicPartition] = []
        self.consume_calls = 0

    def assign(self, partitions: list[TopicPartition]) -> None:
        self.assigned = partitions
        start = partitions[0].offset
        self.pending = [m for m in self.pending if m.offset() >= start]

    def unassign(self) -> None:
        self.assigned = []

    def consume(self, num_messages: int, timeout: float) -> list[Message]:
        self.consume_calls += 1
        taken, self.pending = self.pending[:num_messages], self.pending[num_messages:]
        return taken

    def position(self, partitions: list[TopicPartition]) -> list[TopicPartition]:
        return [TopicPartition("sales", 2, self.end_position)]


def offsets_read(batches: list[pa.RecordBatch]) -> list[int]:
    return [o for b in batches for o in b.column("offset").to_pylist()]


def test_reads_exactly_the_range() -> None:
    consumer = FakeConsumer([message(o) for o in range(20)], position=20)
    batches = list(read_range(consumer, KafkaRange("sales", 2, 5, 12), 1.0))  # type: ignore[arg-type]
    assert offsets_read(batches) == list(range(5, 12))
    assert consumer.consume_calls == 1
    assert consumer.assigned == []


def test_compacted_gaps_end_the_range_at_the_next_message_past_it() -> None:
    consumer = FakeConsumer([message(o) for o in (0, 1, 4, 9, 15)], position=16)
    batches = list(read_range(consumer, KafkaRange("sales", 2, 0, 10), 1.0))  # type: ignore[arg-type]
    assert offsets_read(batches) == [0, 1, 4, 9]


def test_transaction_marker_at_the_end_is_stepped_over() -> None:
    # offsets 3 and 4 are control records: never delivered, but the position passes them
    consumer = FakeConsumer([message(o) for o in (0, 1, 2)], position=5)
    batches = list(read_range(consumer, KafkaRange("sales", 2, 0, 5), 1.0))  # type: ignore[arg-type]
    assert offsets_read(batches) == [0, 1, 2]


def test_offsets_before_the_range_after_a_reset_are_dropped() -> None:
    consumer = FakeConsumer([message(o) for o in range(10)], position=10)
    consumer.assign = lambda partitions: None  # type: ignore[method-assign]  # reset: from 0
    batches = list(read_range(consumer, KafkaRange("sales", 2, 6, 8), 1.0))  # type: ignore[arg-type]
    assert offsets_read(batches) == [6, 7]


def test_a_range_that_cannot_be_read_fully_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(kafka_source, "_POLL_STEP_S", 0.0)
    consumer = FakeConsumer([message(o) for o in range(3)], position=3)
    with pytest.raises(KafkaSourceError, match=r"offsets \[0, 10\) only up to 3"):
        list(read_range(consumer, KafkaRange("sales", 2, 0, 10), 0.05))  # type: ignore[arg-type]
    assert consumer.assigned == []


def test_a_broker_that_reports_records_but_sends_none_is_called_stalled_not_unreachable(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(kafka_source, "_POLL_STEP_S", 0.0)
    monkeypatch.setattr(kafka_source, "_STALL_WARNING_S", 0.01)
    outage = Outage("kafka", "broker-1:9092", 0.05, "KAFKA_OUTAGE_TOLERANCE")
    consumer = FakeConsumer([message(o) for o in range(3)], position=3)
    with (
        caplog.at_level(logging.WARNING, logger="spark_streaming.kafka_source"),
        pytest.raises(OutageTooLongError) as raised,
    ):
        list(read_range(consumer, KafkaRange("sales", 2, 0, 10), 0.01, outage))  # type: ignore[arg-type]
    message_text = str(raised.value)
    assert message_text.startswith("kafka at broker-1:9092 sent no records for 0s although it ")
    assert "reported offsets up to 10 during read of sales[2] at offset 3" in message_text
    assert "unreachable" not in message_text and "KAFKA_OUTAGE_TOLERANCE=0.05s" in message_text
    stalls = [r.getMessage() for r in caplog.records if "event=kafka_outage" in r.getMessage()]
    assert stalls and all("symptom=no_records" in s for s in stalls)
