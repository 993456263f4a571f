"""The machine's own ceiling: a bare confluent-kafka consumer, no Spark, appending the
same topics to a Delta table with delta-rs. Catch-up is reported against it
(`bench.catch_up` runs it on its own backlog); `ceiling_alone` runs it without Spark."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import pyarrow as pa
from confluent_kafka import Consumer, KafkaError, TopicPartition
from deltalake import write_deltalake

if TYPE_CHECKING:
    from bench.stack import Bench

SCHEMA = pa.schema(
    [
        ("key", pa.binary()),
        ("value", pa.binary()),
        ("topic", pa.string()),
        ("partition", pa.int32()),
        ("offset", pa.int64()),
        ("kafka_timestamp_ms", pa.int64()),
    ]
)


def bare_consumer_to_delta(
    client_config: Mapping[str, str],
    topic_partitions: Mapping[str, int],
    expected: int,
    table_uri: str,
    rows_per_commit: int = 50_000,
    timeout_s: float = 600.0,
) -> dict[str, float]:
    """Read `expected` records from offset 0 of every partition and append them to
    `table_uri` in commits of `rows_per_commit`; events/s over the whole run."""
    consumer = Consumer(
        {
            **client_config,
            "group.id": "bench-ceiling",
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "fetch.wait.max.ms": 10,
            "log.connection.close": False,
        }
    )
    consumer.assign(
        [TopicPartition(t, p, 0) for t, count in topic_partitions.items() for p in range(count)]
    )
    started = time.monotonic()
    read, commits, pending = 0, 0, []
    try:
        while read < expected and time.monotonic() - started < timeout_s:
            messages = consumer.consume(10_000, timeout=0.2)
            good, failed = [], []
            for message in messages:
                error = message.error()
                if error is None:
                    good.append(message)
                elif error.code() != KafkaError._PARTITION_EOF:
                    failed.append(error)
            if failed:
                raise RuntimeError(f"ceiling consumer failed: {failed[0]}")
            pending.extend(good)
            read += len(good)
            if len(pending) >= rows_per_commit or (read >= expected and pending):
                write_deltalake(table_uri, _arrow(pending), mode="append")
                commits += 1
                pending = []
    finally:
        consumer.close()
    elapsed = time.monotonic() - started
    return {
        "events": read,
        "elapsed_s": round(elapsed, 3),
        "events_per_s": round(read / elapsed, 1) if elapsed else 0.0,
        "commits": commits,
    }


def _arrow(messages: list) -> pa.Table:
    return pa.Table.from_arrays(
        [
            pa.array([m.key() for m in messages], pa.binary()),
            pa.array([m.value() for m in messages], pa.binary()),
            pa.array([m.topic() for m in messages], pa.string()),
            pa.array([m.partition() for m in messages], pa.int32()),
            pa.array([m.offset() for m in messages], pa.int64()),
            pa.array([m.timestamp()[1] for m in messages], pa.int64()),
        ],
        schema=SCHEMA,
    )


def ceiling_alone(bench: Bench, events: int) -> dict[str, Any]:
    """The bare consumer on its own backlog, `repeats` times: the ceiling for a run
    that skips catch-up."""
    from bench.stack import progress, short_id, stat, topic_partitions

    runs = []
    for repeat in range(bench.size.repeats):
        topics = f"ceiling-{events}-{repeat}-{short_id()}"
        producing = bench.settings(topics)
        report = bench.produce(producing, events=events, rate=0.0, write_reference=False)
        runs.append(
            bare_consumer_to_delta(
                producing.kafka_client_config(),
                topic_partitions(producing),
                report.delivered,
                str(bench.work_dir / topics / "ceiling"),
            )
        )
        progress("ceiling", events=events, repeat=repeat, events_per_s=runs[-1]["events_per_s"])
    return {
        "events": runs[0]["events"] if runs else events,
        "events_per_s": stat([r["events_per_s"] for r in runs]),
        "runs": runs,
    }
