"""The Python Kafka source against a real Kafka-protocol broker (embedded Tansu):
every message read exactly once, within maxOffsetsPerTrigger, across a restart."""

from __future__ import annotations

import statistics
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from chispa import assert_df_equality
from confluent_kafka import Message, Producer
from confluent_kafka.admin import AdminClient, NewTopic
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import types as T
from pyspark.sql.streaming import StreamingQuery

from mock.embedded_broker import EmbeddedBroker
from retail_lakehouse.settings import Settings
from spark_streaming.sources import read_kafka_stream

pytestmark = pytest.mark.integration

TOPIC = "retail.test.kafka-source"
MAX_OFFSETS = 1000
ROW_SCHEMA = T.StructType(
    [
        T.StructField("partition", T.IntegerType()),
        T.StructField("offset", T.LongType()),
        T.StructField("key", T.BinaryType()),
        T.StructField("value", T.BinaryType()),
    ]
)
Row = tuple[int, int, bytes, bytes]


@pytest.fixture(scope="module")
def broker() -> Iterator[EmbeddedBroker]:
    with EmbeddedBroker() as running:
        admin = AdminClient({"bootstrap.servers": running.bootstrap_servers})
        futures = admin.create_topics([NewTopic(TOPIC, num_partitions=3, replication_factor=1)])
        for future in futures.values():
            future.result(timeout=30)
        yield running


def produce(bootstrap_servers: str, first: int, count: int) -> list[Row]:
    """Keyed messages; returns where the broker stored each one."""
    delivered: list[Row] = []

    def on_delivery(error: object, message: Message) -> None:
        assert error is None, error
        delivered.append((message.partition(), message.offset(), message.key(), message.value()))

    # linger batches many records together, hiding the tail from Tansu's ListOffsets
    producer = Producer({"bootstrap.servers": bootstrap_servers, "linger.ms": 5, "acks": "all"})
    for i in range(first, first + count):
        key = f"store-{i % 97}".encode()
        value = f'{{"sale_id": {i}, "amount": "{i % 50}.99"}}'.encode()
        producer.produce(TOPIC, key=key, value=value, on_delivery=on_delivery)
        producer.poll(0)
    assert producer.flush(30) == 0
    return delivered


class BatchCollector:
    """foreachBatch sink keeping each micro-batch's rows and when it finished."""

    def __init__(self) -> None:
        self.rows: list[Row] = []
        self.batches: list[tuple[int, float]] = []

    def __call__(self, batch: DataFrame, batch_id: int) -> None:
        rows = [tuple(r) for r in batch.select("partition", "offset", "key", "value").collect()]
        self.rows.extend(rows)  # type: ignore[arg-type]
        self.batches.append((len(rows), time.monotonic()))


def start_query(
    spark: SparkSession, bootstrap: str, checkpoint: Path, sink: BatchCollector
) -> StreamingQuery:
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        kafka_bootstrap_servers=bootstrap,
        kafka_source="python",
        starting_offsets="earliest",
        max_offsets_per_trigger=MAX_OFFSETS,
    )
    return (
        read_kafka_stream(spark, settings, [TOPIC])
        .writeStream.foreachBatch(sink)
        .option("checkpointLocation", str(checkpoint))
        .trigger(processingTime="100 milliseconds")
        .start()
    )


def wait_for_rows(
    query: StreamingQuery, sink: BatchCollector, count: int, timeout_s: float
) -> None:
    deadline = time.monotonic() + timeout_s
    while len(sink.rows) < count:
        if query.exception() is not None:
            raise AssertionError(f"query failed: {query.exception()}")
        assert time.monotonic() < deadline, f"read {len(sink.rows)} of {count} rows"
        time.sleep(0.05)


def as_df(spark: SparkSession, rows: list[Row]) -> DataFrame:
    return spark.createDataFrame(rows, ROW_SCHEMA)


def test_reads_every_message_once_and_resumes_from_the_checkpoint(
    spark: SparkSession, broker: EmbeddedBroker, tmp_path: Path
) -> None:
    bootstrap = broker.bootstrap_servers
    first = produce(bootstrap, 0, 3000)
    assert {partition for partition, *_ in first} == {0, 1, 2}
    # a progress event for every idle trigger, so their cost can be measured
    spark.conf.set("spark.sql.streaming.noDataProgressEventInterval", "0")
    try:
        sink = BatchCollector()
        query = start_query(spark, bootstrap, tmp_path / "checkpoint", sink)
        wait_for_rows(query, sink, len(first), timeout_s=90)
        time.sleep(0.5)  # idle triggers; a late duplicate would show up here too
        idle = [p["durationMs"] for p in query.recentProgress if p["numInputRows"] == 0]
        query.stop()
    finally:
        spark.conf.unset("spark.sql.streaming.noDataProgressEventInterval")

    assert_df_equality(as_df(spark, sink.rows), as_df(spark, first), ignore_row_order=True)
    sizes = [size for size, _ in sink.batches if size]
    assert len(sizes) >= 3 and max(sizes) <= MAX_OFFSETS
    warm = sink.batches[1:]  # the first batch pays Python worker start-up
    rate = sum(size for size, _ in warm) / (warm[-1][1] - sink.batches[0][1])
    assert idle, "expected idle triggers after the backlog was read"
    idle_ms = [d["triggerExecution"] for d in idle]
    print(
        f"\nkafka_source rows_per_s_warm={rate:.0f} batches={sizes} "
        f"idle_trigger_ms_p50={statistics.median(idle_ms):.0f} max={max(idle_ms)} "
        f"idle_latest_offset_ms_max={max(d.get('latestOffset', 0) for d in idle)}"
    )
    assert max(idle_ms) < 1000  # an idle trigger must not stall the next batch

    second = produce(bootstrap, 3000, 1200)
    resumed = BatchCollector()
    query = start_query(spark, bootstrap, tmp_path / "checkpoint", resumed)
    try:
        wait_for_rows(query, resumed, len(second), timeout_s=60)
        time.sleep(0.5)
    finally:
        query.stop()
    assert_df_equality(as_df(spark, resumed.rows), as_df(spark, second), ignore_row_order=True)
