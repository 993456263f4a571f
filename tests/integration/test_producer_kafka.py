"""The producer against a real Kafka-protocol broker, read back with kafka-python,
an independent client. Tansu's latest-offset answers are wrong, so the reader
consumes until the topics stay idle instead of trusting watermarks."""

from __future__ import annotations

import json
import time
from collections import Counter, defaultdict
from datetime import UTC, datetime

import pytest
from deltalake import DeltaTable
from kafka import KafkaConsumer, TopicPartition

from mock.kafka_broker import LocalKafka
from producer.__main__ import main
from producer.clock import SimulatedClock
from producer.faults import FaultConfig
from producer.kafka_publisher import KafkaPublisher, producer_config
from producer.run import run_producer
from producer.stream import generate_messages
from producer.topics import ensure_topics
from retail_lakehouse.contracts import FAMILIES
from retail_lakehouse.settings import Settings, get_settings

pytestmark = pytest.mark.integration

NOISY = FaultConfig(duplicate_rate=0.03, out_of_order_rate=0.03, late_rate=0.01,
                    malformed_rate=0.03)  # fmt: skip


@pytest.fixture(scope="module")
def broker():
    with LocalKafka() as running:
        yield running


def settings_for(broker, prefix: str, **extra) -> Settings:
    return Settings(
        kafka_bootstrap_servers=broker.bootstrap_servers,
        topic_sales=f"{prefix}.sales",
        topic_clickstream=f"{prefix}.clickstream",
        topic_inventory=f"{prefix}.inventory",
        topic_partitions=3,
        **extra,
    )


def read_everything(settings: Settings, expected: int, idle_s: float = 2.0, limit_s: float = 60):
    """Every record of the three topics: consume until `expected` are read and
    nothing more arrives for `idle_s` (so extra messages would be caught too)."""
    consumer = KafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    try:
        partitions = [
            TopicPartition(settings.topic(fam), p)
            for fam in FAMILIES
            for p in sorted(consumer.partitions_for_topic(settings.topic(fam)) or ())
        ]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        records, last_new, deadline = [], time.monotonic(), time.monotonic() + limit_s
        while time.monotonic() < deadline:
            batch = consumer.poll(timeout_ms=200)
            for chunk in batch.values():
                records.extend(chunk)
            if batch:
                last_new = time.monotonic()
            elif len(records) >= expected and time.monotonic() - last_new >= idle_s:
                break
        return records
    finally:
        consumer.close()


def test_topics_have_the_configured_partitions_and_creation_is_idempotent(broker) -> None:
    settings = settings_for(broker, "topics")
    assert ensure_topics(settings) == ["topics.sales", "topics.clickstream", "topics.inventory"]
    assert ensure_topics(settings) == ["topics.sales", "topics.clickstream", "topics.inventory"]
    consumer = KafkaConsumer(bootstrap_servers=broker.bootstrap_servers)
    try:
        for topic in ("topics.sales", "topics.clickstream", "topics.inventory"):
            assert consumer.partitions_for_topic(topic) == {0, 1, 2}
    finally:
        consumer.close()


def test_what_is_on_the_topics_is_exactly_what_was_generated(broker) -> None:
    settings = settings_for(broker, "exact")
    ensure_topics(settings)
    stream = generate_messages(
        settings, seed=21, events=4800, faults=NOISY, clock=SimulatedClock(),
        wall_clock=lambda: datetime(2026, 3, 2, 12, tzinfo=UTC),
    )  # fmt: skip
    generated = list(stream)
    assert stream.faults.counts["duplicate"] > 0 and stream.faults.malformed > 0

    result = KafkaPublisher(producer_config(settings)).publish(generated)
    records = read_everything(settings, expected=len(generated))

    expected_by_topic = defaultdict(Counter)
    for m in generated:
        expected_by_topic[m.topic][(m.key, m.value)] += 1
    read_by_topic = defaultdict(Counter)
    for r in records:
        read_by_topic[r.topic][(r.key, r.value)] += 1
    assert read_by_topic == expected_by_topic

    partition_of = defaultdict(set)
    for r in records:
        partition_of[(r.topic, r.key)].add(r.partition)
    assert all(len(p) == 1 for p in partition_of.values())
    assert {r.partition for r in records} == {0, 1, 2}

    read_counts = Counter(r.topic for r in records)
    assert result.sent_by_topic == dict(read_counts)
    assert result.delivered_by_topic == dict(read_counts)
    assert (result.failed, result.undelivered) == (0, 0)


def test_run_producer_reports_what_reached_the_topics(broker, tmp_path) -> None:
    settings = settings_for(broker, "run", lake_root=str(tmp_path))
    report = run_producer(settings, events=1500, seed=5, faults=NOISY)
    records = read_everything(settings, expected=report.sent_total)

    assert dict(Counter(r.topic for r in records)) == report.sent_by_topic
    assert report.delivered_by_topic == report.sent_by_topic
    assert report.events == 1500
    assert report.sent_total == 1500 + report.faults["duplicate"]
    assert (report.delivered, report.failed, report.undelivered) == (len(records), 0, 0)
    assert report.faults["total"] > 0
    assert DeltaTable(f"{tmp_path}/reference/stores").to_pyarrow_table().num_rows == 12
    assert DeltaTable(f"{tmp_path}/reference/products").to_pyarrow_table().num_rows == 200
    assert json.loads(json.dumps(report.to_dict()))["events"] == 1500


def test_python_dash_m_producer(broker, tmp_path, monkeypatch, capsys) -> None:
    for name, value in {
        "TOPIC_SALES": "cli.sales",
        "TOPIC_CLICKSTREAM": "cli.clickstream",
        "TOPIC_INVENTORY": "cli.inventory",
        "LAKE_ROOT": str(tmp_path),
    }.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    try:
        code = main(["--events", "300", "--rate", "2000",
                     "--bootstrap-servers", broker.bootstrap_servers])  # fmt: skip
    finally:
        get_settings.cache_clear()
    report = json.loads(capsys.readouterr().out)
    assert code == 0
    assert report["events"] == 300 and report["sent_total"] == 300
    assert report["delivered"] == 300
    assert set(report["sent_by_topic"]) == {"cli.sales", "cli.clickstream", "cli.inventory"}
