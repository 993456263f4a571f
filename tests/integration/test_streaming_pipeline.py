"""End to end: seeded events with faults through a real broker, Spark and Delta.

Silver, quarantine and gold are compared with expectations computed independently
from the messages this test sent (plain Python and DuckDB).
"""

from __future__ import annotations

import dataclasses
import json
from collections import Counter
from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pytest
from lakehouse_expectations import (
    QUARANTINED_FAULTS,
    assert_table_equals,
    clicks_table,
    expected_quarantine,
    expected_sales_lines,
    gold_funnel,
    gold_inventory_levels,
    gold_sales_by_product,
    gold_sales_by_store,
    inventory_tables,
    read_table,
    sales_lines_table,
    ts,
    unique_valid_events,
    wait_until,
)
from stream_starts import caught_up, start_all

from mock.kafka_broker import LocalKafka
from producer.catalog import build_catalog
from producer.clock import SimulatedClock
from producer.faults import FaultConfig
from producer.kafka_publisher import KafkaPublisher, producer_config
from producer.messages import OutboundMessage
from producer.reference_tables import write_reference_tables
from producer.stream import generate_messages
from producer.topics import ensure_topics
from retail_lakehouse import tables
from retail_lakehouse.contracts import FAMILIES
from retail_lakehouse.settings import Settings
from spark_streaming.streams import stop_pipeline

pytestmark = pytest.mark.integration

START = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
DEFAULT_WATERMARK = Settings.model_fields["watermark_delay"].default

# (watermark, how phase 2 arrives, writer): a wide watermark with phase 2 published
# into the running pipeline, written by delta-rs; the default watermark with the
# pipeline stopped and restarted between the phases, so each phase is read as one
# batch (partition skew inside a batch never makes an on-time event late) and the
# watermark is recovered on restart, written by delta-spark
RUNS = {
    "wide-watermark-live-delta-rs": ("30 minutes", False, "delta-rs"),
    "default-watermark-restart-delta-spark": (DEFAULT_WATERMARK, True, "delta-spark"),
}


@pytest.fixture(scope="module")
def broker():
    with LocalKafka() as running:
        yield running


def make_settings(broker: LocalKafka, root, name: str, **overrides) -> Settings:
    values = {
        "kafka_bootstrap_servers": broker.bootstrap_servers,
        "lake_root": str(root / "lake"),
        "checkpoint_root": str(root / "checkpoints"),
        "topic_sales": f"{name}.sales",
        "topic_clickstream": f"{name}.clickstream",
        "topic_inventory": f"{name}.inventory",
        "topic_partitions": 3,
        "trigger_interval": "500 milliseconds",
        "watermark_delay": "30 minutes",
    }
    values.update(overrides)
    return Settings(**values)


def seeded_messages(settings, catalog, seed, events, start, faults) -> list[OutboundMessage]:
    # late and out-of-order stock counts included: on-hand is the latest count plus
    # every change after it, whatever order they arrive in
    return list(
        generate_messages(
            settings,
            seed=seed,
            events=events,
            faults=faults,
            clock=SimulatedClock(start),
            catalog=catalog,
        )
    )


def publish(settings: Settings, messages: list[OutboundMessage]) -> None:
    result = KafkaPublisher(producer_config(settings)).publish(messages)
    assert result.failed == 0 and result.delivered == len(messages)


def last_event_time(messages: list[OutboundMessage]) -> datetime:
    return max(
        ts(json.loads(m.value)["event_time"]) for m in messages if m.fault not in QUARANTINED_FAULTS
    ).replace(tzinfo=UTC)


def future_dated(messages: list[OutboundMessage]) -> list[OutboundMessage]:
    """One event per family from a till whose clock says 2099: event_time and
    produced_at both in the future, as the same bad clock writes both."""
    forged = []
    for event_type in ("sale", "view", "inventory_change"):
        template = next(m for m in messages if m.event_type == event_type and m.fault is None)
        event = json.loads(template.value)
        event["event_id"] = f"{event['event_id']}-clock-2099"
        event["event_time"] = "2099-01-01T09:00:00.000Z"
        event["produced_at"] = "2099-01-01T09:00:00.050Z"
        forged.append(
            dataclasses.replace(
                template,
                value=json.dumps(event).encode(),
                event_id=event["event_id"],
                fault="future_event_time",
            )
        )
    return forged


@pytest.fixture(scope="module", params=list(RUNS))
def pipeline_run(request, spark, broker, tmp_path_factory):
    """Phase 1 sets a watermark (and carries events from a clock in 2099, which must
    not move it); phase 2 brings late events, re-sends and more faults."""
    watermark, restart_between_phases, writer = RUNS[request.param]
    root = tmp_path_factory.mktemp("e2e")
    name = f"e2e-{request.param}"
    settings = make_settings(broker, root, name, watermark_delay=watermark, delta_writer=writer)
    ensure_topics(settings)
    catalog = build_catalog(11)
    write_reference_tables(settings, catalog)
    noisy = {"duplicate_rate": 0.03, "out_of_order_rate": 0.05, "malformed_rate": 0.03}
    phase1 = seeded_messages(settings, catalog, 11, 1200, START, FaultConfig(**noisy))
    phase2 = seeded_messages(
        settings,
        catalog,
        12,
        400,
        last_event_time(phase1) + timedelta(minutes=5),
        FaultConfig(**noisy, late_rate=0.05, late_by=timedelta(hours=2)),
    )
    # the same events again, long after: duplicates behind the watermark
    resent = [m for m in phase1 if m.fault is None][:40]
    middle = len(phase1) // 2
    phase1 = phase1[:middle] + future_dated(phase1) + phase1[middle:]
    publish(settings, phase1)
    running = start_all(spark, settings)
    try:
        wait_until(lambda: caught_up(running, phase1), 300, "phase 1")
        # a restarted stream counts only what it read itself
        if restart_between_phases:
            stop_pipeline(running)
            publish(settings, phase2 + resent)
            running = start_all(spark, settings)
            read_since_start = phase2 + resent
        else:
            publish(settings, phase2 + resent)
            read_since_start = phase1 + phase2 + resent
        wait_until(lambda: caught_up(running, read_since_start), 300, "phase 2")
    finally:
        stop_pipeline(running)
    sent = phase1 + phase2 + resent
    late_ids = {m.event_id for m in phase2 if m.fault == "late"}
    return settings, sent, late_ids


def test_bronze_keeps_every_record_as_received(pipeline_run):
    settings, sent, _ = pipeline_run
    for family, spec in (
        ("sales", tables.BRONZE_SALES),
        ("clickstream", tables.BRONZE_CLICKSTREAM),
        ("inventory", tables.BRONZE_INVENTORY),
    ):
        topic = settings.topic(next(f for f in FAMILIES if f.name == family))
        stored = read_table(settings, spec)["value"].to_pylist()
        assert Counter(stored) == Counter(m.value for m in sent if m.topic == topic)


def test_quarantine_holds_exactly_the_malformed_records_with_reasons(pipeline_run):
    settings, sent, _ = pipeline_run
    stored = read_table(settings, tables.QUARANTINE).select(["topic", "raw_payload", "reason"])
    assert Counter(zip(*(stored[c].to_pylist() for c in stored.column_names), strict=True)) == (
        expected_quarantine(sent)
    )


def test_silver_sales_lines_are_exactly_the_unique_valid_sales(spark, pipeline_run):
    settings, sent, late_ids = pipeline_run
    expected = sales_lines_table(expected_sales_lines(unique_valid_events(sent), late_ids))
    assert_table_equals(spark, settings, tables.SILVER_SALES_LINES, expected)


def test_silver_clickstream_is_exactly_the_unique_valid_clicks(spark, pipeline_run):
    settings, sent, late_ids = pipeline_run
    expected = clicks_table(unique_valid_events(sent), late_ids)
    assert_table_equals(spark, settings, tables.SILVER_CLICKSTREAM, expected)


def test_silver_inventory_is_exactly_the_unique_valid_changes_and_counts(spark, pipeline_run):
    settings, sent, _ = pipeline_run
    changes, counts = inventory_tables(unique_valid_events(sent))
    for spec, expected in (
        (tables.SILVER_INVENTORY_CHANGES, changes),
        (tables.SILVER_INVENTORY_SNAPSHOTS, counts),
    ):
        assert_table_equals(spark, settings, spec, expected)


def test_late_events_stay_in_silver_flagged_and_counted(pipeline_run):
    settings, _sent, late_ids = pipeline_run
    flagged = set()
    for spec in (
        tables.SILVER_SALES_LINES,
        tables.SILVER_CLICKSTREAM,
        tables.SILVER_INVENTORY_CHANGES,
        # stock counts arrive late too, now that the end-to-end run reorders them
        tables.SILVER_INVENTORY_SNAPSHOTS,
    ):
        rows = read_table(settings, spec).select(["event_id", "is_late"]).to_pylist()
        flagged |= {r["event_id"] for r in rows if r["is_late"]}
    assert late_ids and flagged == late_ids
    batches = read_table(settings, tables.STREAM_BATCHES).select(["late_events"])
    assert sum(batches["late_events"].to_pylist()) == len(late_ids)


def test_duplicates_are_counted(pipeline_run):
    settings, sent, _ = pipeline_run
    valid = [m for m in sent if m.fault not in QUARANTINED_FAULTS]
    batches = read_table(settings, tables.STREAM_BATCHES).select(["duplicate_events"])
    assert sum(batches["duplicate_events"].to_pylist()) == len(valid) - len(
        unique_valid_events(sent)
    )


def _gold(spark, settings, spec, expected: pa.Table):
    assert expected.num_rows > 0
    assert_table_equals(spark, settings, spec, expected)


def test_gold_sales_by_product_minute_matches_duckdb(spark, pipeline_run):
    settings, sent, late_ids = pipeline_run
    lines = sales_lines_table(expected_sales_lines(unique_valid_events(sent), late_ids))
    _gold(spark, settings, tables.SALES_BY_PRODUCT_MINUTE, gold_sales_by_product(lines))


def test_gold_sales_by_store_minute_matches_duckdb(spark, pipeline_run):
    settings, sent, late_ids = pipeline_run
    lines = sales_lines_table(expected_sales_lines(unique_valid_events(sent), late_ids))
    _gold(spark, settings, tables.SALES_BY_STORE_MINUTE, gold_sales_by_store(lines))


def test_gold_funnel_by_product_minute_matches_duckdb(spark, pipeline_run):
    settings, sent, late_ids = pipeline_run
    _gold(
        spark,
        settings,
        tables.FUNNEL_BY_PRODUCT_MINUTE,
        gold_funnel(clicks_table(unique_valid_events(sent), late_ids)),
    )


def test_gold_inventory_levels_are_latest_count_plus_later_changes(spark, pipeline_run):
    settings, sent, _ = pipeline_run
    changes, counts = inventory_tables(unique_valid_events(sent))
    products = read_table(settings, tables.PRODUCTS).select(["product_id", "safety_stock"])
    _gold(
        spark, settings, tables.INVENTORY_LEVELS, gold_inventory_levels(changes, counts, products)
    )
