"""Offsets of the Python Kafka source: Spark's JSON form, startingOffsets, rate limiting."""

from __future__ import annotations

import json
import pickle

import pytest
from pyspark.sql.streaming.datasource import ReadAllAvailable, ReadMaxRows

from spark_streaming.kafka_source import (
    KafkaRange,
    KafkaSourceError,
    KafkaStreamReader,
    SourceOptions,
    flatten,
    nest,
    parse_starting_offsets,
    rate_limit,
    resolve_starting_offsets,
)

TOPICS = ("sales", "clicks")


def test_nest_is_spark_json_sorted_by_topic_and_partition_number() -> None:
    offsets = {("sales", 10): 7, ("sales", 2): 5, ("clicks", 0): 1}
    assert json.dumps(nest(offsets)) == '{"clicks": {"0": 1}, "sales": {"2": 5, "10": 7}}'


def test_flatten_reads_spark_json_back() -> None:
    spark_json = json.loads('{"sales": {"0": 23, "1": 45}, "clicks": {"0": 0}}')
    assert flatten(spark_json) == {("sales", 0): 23, ("sales", 1): 45, ("clicks", 0): 0}


@pytest.mark.parametrize("text", ["earliest", "latest", " Earliest ", "LATEST"])
def test_named_starting_offsets(text: str) -> None:
    assert parse_starting_offsets(text, TOPICS) == text.strip().lower()


def test_json_starting_offsets() -> None:
    parsed = parse_starting_offsets('{"sales": {"0": 23, "1": -2, "2": -1}}', TOPICS)
    assert parsed == {"sales": {"0": 23, "1": -2, "2": -1}}


@pytest.mark.parametrize("text", ["newest", '{"sales": [1, 2]}', '{"sales": {"x": 1}}'])
def test_malformed_starting_offsets_are_rejected(text: str) -> None:
    with pytest.raises(ValueError, match="startingOffsets must be"):
        parse_starting_offsets(text, TOPICS)


def test_starting_offsets_for_unsubscribed_topic_are_rejected() -> None:
    with pytest.raises(ValueError, match="not subscribed"):
        parse_starting_offsets('{"returns": {"0": 1}}', TOPICS)


EARLIEST = {("sales", 0): 5, ("sales", 1): 0, ("sales", 2): 0}
LATEST = {("sales", 0): 50, ("sales", 1): 40, ("sales", 2): 30}


def test_resolve_earliest_and_latest() -> None:
    assert resolve_starting_offsets("earliest", EARLIEST, LATEST) == EARLIEST
    assert resolve_starting_offsets("latest", EARLIEST, LATEST) == LATEST


def test_resolve_json_markers_and_unlisted_partitions() -> None:
    spec = {"sales": {"0": 23, "1": -1}}  # partition 2 unlisted: starts at earliest
    resolved = resolve_starting_offsets(spec, EARLIEST, LATEST)
    assert resolved == {("sales", 0): 23, ("sales", 1): 40, ("sales", 2): 0}


def test_rate_limit_splits_in_proportion_to_backlog() -> None:
    start = {("s", 0): 0, ("s", 1): 100, ("s", 2): 7}
    latest = {("s", 0): 600, ("s", 1): 400, ("s", 2): 107}  # backlogs 600, 300, 100
    assert rate_limit(100, start, latest) == {("s", 0): 60, ("s", 1): 130, ("s", 2): 17}


def test_rate_limit_gives_a_small_backlog_at_least_one_row() -> None:
    start = {("s", 0): 0, ("s", 1): 0}
    latest = {("s", 0): 1000, ("s", 1): 5}
    # shares 9.95 -> 9 (floor) and 0.0497 -> 1 (ceil), as Spark's kafka source does
    assert rate_limit(10, start, latest) == {("s", 0): 9, ("s", 1): 1}


def test_rate_limit_never_passes_the_end_and_keeps_idle_partitions() -> None:
    start = {("s", 0): 0, ("s", 1): 8}
    latest = {("s", 0): 3, ("s", 1): 8}
    assert rate_limit(1000, start, latest) == {("s", 0): 3, ("s", 1): 8}


def test_rate_limit_without_backlog_returns_latest() -> None:
    assert rate_limit(10, {("s", 0): 4}, {("s", 0): 4}) == {("s", 0): 4}


def test_options_follow_spark_kafka_source_names() -> None:
    options = SourceOptions.parse(
        {
            "kafka.bootstrap.servers": "b:9092",
            "kafka.security.protocol": "SASL_SSL",
            "subscribe": "sales, clicks",
            "startingoffsets": "earliest",  # Spark hands options over lower-cased
            "maxOffsetsPerTrigger": "500",
            "failOnDataLoss": "false",
            "kafkaConsumer.pollTimeoutMs": "5000",
        }
    )
    assert options == SourceOptions(
        client_config={"bootstrap.servers": "b:9092", "security.protocol": "SASL_SSL"},
        topics=("sales", "clicks"),
        starting_offsets="earliest",
        max_offsets_per_trigger=500,
        fail_on_data_loss=False,
        poll_timeout_s=5.0,
    )
    config = options.consumer_config()
    assert config["security.protocol"] == "SASL_SSL"
    assert config["auto.offset.reset"] == "earliest"
    assert config["enable.auto.commit"] is False


def test_options_need_topics_and_servers() -> None:
    with pytest.raises(ValueError, match="required"):
        SourceOptions.parse({"subscribe": "sales"})
    with pytest.raises(ValueError, match="subscribe"):
        SourceOptions.parse({"kafka.bootstrap.servers": "b:9092", "assign": "{}"})


class FakeOffsets:
    """Stands in for the broker-facing KafkaOffsetReader."""

    def __init__(self, earliest: dict, latest: dict) -> None:
        self._earliest, self._latest = earliest, latest

    def positions(self, topics):
        return sorted(p for p in self._latest if p[0] in topics)

    def earliest(self, positions):
        return {p: self._earliest[p] for p in positions}

    def latest(self, positions):
        return {p: self._latest[p] for p in positions}


def reader_over(
    earliest: dict, latest: dict, max_offsets: int | None = None, fail_on_data_loss: bool = True
) -> KafkaStreamReader:
    options = SourceOptions(
        client_config={"bootstrap.servers": "b:9092"},
        topics=("s",),
        starting_offsets="earliest",
        max_offsets_per_trigger=max_offsets,
        fail_on_data_loss=fail_on_data_loss,
    )
    reader = KafkaStreamReader(options)
    reader._offsets = FakeOffsets(earliest, latest)  # type: ignore[assignment]
    return reader


def test_latest_offset_limits_rows_and_starts_new_partitions_at_earliest() -> None:
    reader = reader_over(
        earliest={("s", 0): 0, ("s", 1): 10}, latest={("s", 0): 300, ("s", 1): 110}
    )
    start = {"s": {"0": 100}}  # partition 1 appeared after the query started
    limit = reader.getDefaultReadLimit()
    assert limit == ReadAllAvailable()
    assert reader.latestOffset(start, ReadMaxRows(30)) == {"s": {"0": 120, "1": 20}}
    assert reader.latestOffset(start, limit) == {"s": {"0": 300, "1": 110}}
    assert reader.partitions(start, {"s": {"0": 120, "1": 20}}) == [
        KafkaRange("s", 0, 100, 120),
        KafkaRange("s", 1, 10, 20),
    ]


def test_latest_offset_without_new_data_returns_start_unchanged() -> None:
    reader = reader_over(earliest={("s", 0): 0}, latest={("s", 0): 5}, max_offsets=10)
    start = reader.initialOffset()
    assert start == {"s": {"0": 0}}
    end = reader.latestOffset(start, reader.getDefaultReadLimit())
    assert end == {"s": {"0": 5}}
    assert json.dumps(reader.latestOffset(end, reader.getDefaultReadLimit())) == json.dumps(end)
    assert reader.partitions(end, end) == []


def test_available_now_stops_at_the_offsets_seen_when_it_started() -> None:
    reader = reader_over(earliest={("s", 0): 0}, latest={("s", 0): 5})
    reader.prepareForTriggerAvailableNow()
    reader._offsets = FakeOffsets({("s", 0): 0}, {("s", 0): 9})  # type: ignore[assignment]
    assert reader.latestOffset({"s": {"0": 0}}, ReadAllAvailable()) == {"s": {"0": 5}}


def test_reader_pickles_without_its_consumer() -> None:
    reader = reader_over(earliest={("s", 0): 0}, latest={("s", 0): 5})
    clone = pickle.loads(pickle.dumps(reader))
    assert clone._offsets is None
    assert clone.options == reader.options


def test_offsets_that_went_back_fail_loudly_by_default() -> None:
    # the topic was recreated: its end is now before where the query had got to
    reader = reader_over(earliest={("s", 0): 0}, latest={("s", 0): 3})
    with pytest.raises(KafkaSourceError, match=r"went back.*failOnDataLoss=false"):
        reader.latestOffset({"s": {"0": 50}}, ReadAllAvailable())


def test_offsets_that_went_back_are_skipped_when_data_loss_is_allowed() -> None:
    reader = reader_over(earliest={("s", 0): 0}, latest={("s", 0): 3}, fail_on_data_loss=False)
    assert reader.latestOffset({"s": {"0": 50}}, ReadAllAvailable()) == {"s": {"0": 50}}
    assert reader.options.consumer_config()["auto.offset.reset"] == "earliest"


def test_default_consumer_errors_on_offsets_out_of_range() -> None:
    options = SourceOptions.parse({"kafka.bootstrap.servers": "b:9092", "subscribe": "s"})
    assert options.fail_on_data_loss is True
    assert options.consumer_config()["auto.offset.reset"] == "error"
