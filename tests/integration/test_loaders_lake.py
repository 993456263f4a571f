"""The loader against a real lake: the streaming job's own Delta tables, upserted into the
fakesnow emulator through the real Snowflake connector.

The lake is built once per module by the real streaming job on seeded events (embedded
broker, Spark, delta-rs). After the first phase a copy of the lake is kept: its Delta logs
are a prefix of the final lake's, so loading the copy and then the final lake into the
same warehouse is a first load followed by an incremental one.
Expectations are the Delta tables themselves, read with delta-rs and compared whole.
"""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from deltalake import write_deltalake
from lakehouse_expectations import wait_until
from warehouse_tables import (
    delta_version,
    lake_frame,
    loader_state,
    run_cli,
    warehouse_frame,
)

from loaders.lake_to_snowflake import load_lake
from mock.embedded_broker import EmbeddedBroker
from producer.catalog import build_catalog
from producer.clock import SimulatedClock
from producer.faults import FaultConfig
from producer.kafka_publisher import KafkaPublisher, producer_config
from producer.reference_tables import products_table, write_reference_tables
from producer.stream import generate_messages
from producer.topics import ensure_topics
from retail_lakehouse import lake, tables
from retail_lakehouse.contracts import FAMILIES
from retail_lakehouse.settings import Settings
from spark_streaming.streams import start_streams, stop_streams

pytestmark = pytest.mark.integration

START = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
NOISY = FaultConfig(duplicate_rate=0.03, out_of_order_rate=0.05, malformed_rate=0.03)


def _stream(spark, settings: Settings, messages) -> None:
    """Publish, run the streaming job until it has read everything, stop it."""
    result = KafkaPublisher(producer_config(settings)).publish(messages)
    assert result.failed == 0
    sent: dict[str, int] = {}
    for m in messages:
        sent[m.topic] = sent.get(m.topic, 0) + 1
    running = start_streams(spark, settings)
    try:

        def caught_up() -> bool:
            done = {s.family: s.processor.input_rows_total for s in running}
            return all(done[f.name] >= sent.get(settings.topic(f), 0) for f in FAMILIES)

        wait_until(caught_up, 300, "the streams to read every event")
    finally:
        stop_streams(running)


@pytest.fixture(scope="module")
def lakes(spark, tmp_path_factory):
    """(settings of the lake after phase 1, settings of the final lake), sharing nothing
    but the Delta history the copy took along."""
    root = tmp_path_factory.mktemp("loaders_lake")
    with EmbeddedBroker() as broker:
        settings = Settings(
            kafka_bootstrap_servers=broker.bootstrap_servers,
            lake_root=str(root / "lake"),
            checkpoint_root=str(root / "checkpoints"),
            topic_sales="ld.sales",
            topic_clickstream="ld.clickstream",
            topic_inventory="ld.inventory",
            topic_partitions=2,
            trigger_interval="500 milliseconds",
            watermark_delay="30 minutes",
            warehouse_emulator_path=str(root / "unused_warehouse"),
        )
        ensure_topics(settings)
        catalog = build_catalog(5)
        write_reference_tables(settings, catalog)
        phase1 = list(
            generate_messages(
                settings,
                seed=5,
                events=900,
                faults=NOISY,
                clock=SimulatedClock(START),
                catalog=catalog,
            )
        )
        _stream(spark, settings, phase1)
        shutil.copytree(root / "lake", root / "lake_phase1")
        # phase 2: more events (some late, so gold windows are merged again) and new prices
        phase2 = list(
            generate_messages(
                settings,
                seed=6,
                events=500,
                faults=FaultConfig(
                    duplicate_rate=0.03,
                    malformed_rate=0.03,
                    late_rate=0.05,
                    late_by=timedelta(minutes=5),
                ),
                clock=SimulatedClock(START + timedelta(hours=1)),
                catalog=catalog,
            )
        )
        _stream(spark, settings, phase2)
        products = products_table(catalog)
        repriced = pc.add(products["list_price"], pa.scalar(1, products["list_price"].type))
        head = pa.array([i < 3 for i in range(products.num_rows)])
        products = products.set_column(
            products.schema.get_field_index("list_price"),
            "list_price",
            pc.if_else(head, repriced, products["list_price"]),
        )
        write_deltalake(lake.uri(settings, tables.PRODUCTS), products, mode="overwrite")
    phase1_settings = settings.model_copy(update={"lake_root": str(root / "lake_phase1")})
    return phase1_settings, settings


def _warehouse(lake_settings: Settings, path, **overrides) -> Settings:
    return lake_settings.model_copy(update={"warehouse_emulator_path": str(path), **overrides})


def _assert_landed_equals_lake(lake_settings: Settings, wh: Settings) -> None:
    for spec in tables.WAREHOUSE_TABLES:
        expected = lake_frame(lake_settings, spec)
        actual = warehouse_frame(wh, spec)
        pd.testing.assert_frame_equal(actual, expected, check_dtype=False, obj=spec.qualified_name)


def _changes(before: pd.DataFrame, after: pd.DataFrame, keys: list[str]) -> tuple[int, int]:
    """(new keys, keys whose values changed) between two versions, computed with pandas."""
    joined = after.merge(before, on=keys, how="left", suffixes=("", "_before"), indicator=True)
    new = int((joined["_merge"] == "left_only").sum())
    both = joined[joined["_merge"] == "both"]
    others = [c for c in after.columns if c not in keys]
    changed = pd.Series(False, index=both.index)
    for column in others:
        a, b = both[column], both[f"{column}_before"]
        changed |= ~((a == b) | (a.isna() & b.isna()))
    return new, int(changed.sum())


@pytest.fixture(scope="module")
def incremental(lakes, tmp_path_factory):
    """One warehouse loaded from the phase-1 lake, then from the final lake."""
    phase1, final = lakes
    path = tmp_path_factory.mktemp("wh_incremental")
    first = load_lake(_warehouse(phase1, path), progress=False)
    snapshot = {
        s.qualified_name: warehouse_frame(_warehouse(phase1, path), s)
        for s in tables.WAREHOUSE_TABLES
    }
    second = load_lake(_warehouse(final, path, loader_chunk_rows=700), progress=False)
    return path, first, snapshot, second


def test_first_load_lands_every_table_exactly_as_in_the_lake(lakes, incremental):
    phase1, _ = lakes
    _, first, snapshot, _ = incremental
    by_table = {t.table: t for t in first.tables}
    for spec in tables.WAREHOUSE_TABLES:
        expected = lake_frame(phase1, spec)
        load = by_table[spec.qualified_name]
        assert (load.from_version, load.to_version) == (None, delta_version(phase1, spec))
        assert (load.rows_inserted, load.rows_updated) == (len(expected), 0)
        pd.testing.assert_frame_equal(
            snapshot[spec.qualified_name], expected, check_dtype=False, obj=spec.qualified_name
        )


def test_incremental_load_takes_only_the_new_versions(lakes, incremental):
    phase1, final = lakes
    path, _, _, second = incremental
    by_table = {t.table: t for t in second.tables}
    for spec in tables.WAREHOUSE_TABLES:
        load = by_table[spec.qualified_name]
        assert load.from_version == delta_version(phase1, spec), spec.qualified_name
        assert load.to_version == delta_version(final, spec), spec.qualified_name
        expected_counts = _changes(
            lake_frame(phase1, spec), lake_frame(final, spec), list(spec.natural_keys)
        )
        assert (load.rows_inserted, load.rows_updated) == expected_counts, spec.qualified_name
        if spec.layer == "silver":
            # append-only tables: only the files of the new versions are read
            assert load.rows_read == load.rows_inserted, spec.qualified_name
    # the repriced products and the late sales really were changes
    assert by_table["reference.products"].rows_updated == 3
    assert sum(t.rows_updated for t in second.tables if t.table.startswith("gold.")) > 0
    _assert_landed_equals_lake(final, _warehouse(final, path))
    state = loader_state(_warehouse(final, path))
    assert {name: v for name, (v, _, _) in state.items()} == {
        s.qualified_name: delta_version(final, s) for s in tables.WAREHOUSE_TABLES
    }


def test_a_rerun_with_nothing_new_changes_nothing(lakes, incremental):
    _, final = lakes
    path = incremental[0]
    wh = _warehouse(final, path)
    before = {
        s.qualified_name: warehouse_frame(wh, s, with_loader_columns=True)
        for s in tables.WAREHOUSE_TABLES
    }
    again = load_lake(wh, progress=False)
    assert all(t.status == "up to date" for t in again.tables)
    assert (again.rows_inserted, again.rows_updated) == (0, 0)
    for spec in tables.WAREHOUSE_TABLES:
        pd.testing.assert_frame_equal(
            warehouse_frame(wh, spec, with_loader_columns=True), before[spec.qualified_name]
        )


def test_a_crash_between_staging_and_merge_then_a_rerun_converges(lakes, tmp_path):
    _, final = lakes
    wh = _warehouse(final, tmp_path / "warehouse", snowflake_stage_method="insert")
    crashed = run_cli(wh, "load", "--no-progress", LOADER_CRASH_AFTER="stage:silver.sales_lines")
    assert crashed.returncode == 137, crashed.stderr[-2000:]
    assert "silver.sales_lines" not in loader_state(wh)
    assert warehouse_frame(wh, tables.SILVER_SALES_LINES).empty
    # a second crash later on: after gold.inventory_levels' MERGE, before its commit
    crashed = run_cli(wh, "load", "--no-progress", LOADER_CRASH_AFTER="merge:gold.inventory_levels")
    assert crashed.returncode == 137, crashed.stderr[-2000:]
    state = loader_state(wh)
    assert "gold.inventory_levels" not in state
    assert state["silver.sales_lines"][0] == delta_version(final, tables.SILVER_SALES_LINES)
    assert warehouse_frame(wh, tables.INVENTORY_LEVELS).empty
    rerun = run_cli(wh, "load", "--no-progress")
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert "gold.inventory_levels" in rerun.stdout
    _assert_landed_equals_lake(final, wh)
    assert {n: v for n, (v, _, _) in loader_state(wh).items()} == {
        s.qualified_name: delta_version(final, s) for s in tables.WAREHOUSE_TABLES
    }
