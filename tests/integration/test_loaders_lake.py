"""The loader against a real lake: Delta tables written by the project's own Delta writer
(see loaders_lake_builder.py) from seeded producer messages, upserted into the fakesnow emulator
through the real Snowflake connector.

The lake is built once per module in micro-batches. After the first phase a copy of the
lake is kept: its Delta logs are a prefix of the final lake's, so loading the copy and then
the final lake into the same warehouse is a first load followed by an incremental one.
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
from loaders_lake_builder import LakeBuilder
from loaders_warehouse_frames import (
    delta_version,
    lake_frame,
    loader_state,
    run_cli,
    warehouse_frame,
)

from loaders.lake_to_snowflake import load_lake
from producer.catalog import build_catalog
from producer.clock import SimulatedClock
from producer.faults import FaultConfig
from producer.reference_tables import products_table, write_reference_tables
from producer.stream import generate_messages
from retail_lakehouse import lake, tables
from retail_lakehouse.settings import Settings

pytestmark = pytest.mark.integration

START = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


def _messages(settings: Settings, catalog, seed: int, events: int, start, faults) -> list:
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


def _batches(messages: list, n: int) -> list[list]:
    size = -(-len(messages) // n)
    return [messages[i : i + size] for i in range(0, len(messages), size)]


@pytest.fixture(scope="module")
def lakes(tmp_path_factory):
    """(settings of the lake after phase 1, settings of the final lake)."""
    root = tmp_path_factory.mktemp("loaders_lake")
    settings = Settings(
        lake_root=str(root / "lake"), warehouse_emulator_path=str(root / "unused_warehouse")
    )
    catalog = build_catalog(5)
    write_reference_tables(settings, catalog)
    builder = LakeBuilder(settings, catalog)
    noisy = FaultConfig(duplicate_rate=0.03, out_of_order_rate=0.05, malformed_rate=0.03)
    for batch in _batches(_messages(settings, catalog, 5, 1500, START, noisy), 3):
        builder.feed(batch)
    shutil.copytree(root / "lake", root / "lake_phase1")
    # phase 2: more events, some late (gold windows already loaded change), new prices
    products = products_table(catalog)
    repriced = pc.add(products["list_price"], pa.scalar(1, products["list_price"].type))
    first_three = pa.array([i < 3 for i in range(products.num_rows)])
    products = products.set_column(
        products.schema.get_field_index("list_price"),
        "list_price",
        pc.if_else(first_three, repriced, products["list_price"]).cast(products["list_price"].type),
    )
    write_deltalake(lake.uri(settings, tables.PRODUCTS), products, mode="overwrite")
    late = FaultConfig(
        duplicate_rate=0.03, malformed_rate=0.03, late_rate=0.1, late_by=timedelta(minutes=20)
    )
    phase2 = _messages(settings, catalog, 6, 800, START + timedelta(minutes=10), late)
    for batch in _batches(phase2, 2):
        builder.feed(batch, products)
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


# three tables keep the three loader processes of the drill short on a shared CPU
DRILL_TABLES = (tables.SILVER_SALES_LINES, tables.INVENTORY_LEVELS, tables.PRODUCTS)


def test_a_crash_between_staging_and_merge_then_a_rerun_converges(lakes, tmp_path):
    _, final = lakes
    wh = _warehouse(final, tmp_path / "warehouse")
    load = ("load", "--no-progress", "--tables", ",".join(s.qualified_name for s in DRILL_TABLES))
    crashed = run_cli(wh, *load, LOADER_CRASH_AFTER="stage:silver.sales_lines")
    assert crashed.returncode == 137, crashed.stderr[-2000:]
    assert "silver.sales_lines" not in loader_state(wh)
    assert warehouse_frame(wh, tables.SILVER_SALES_LINES).empty
    # a second crash later on: after gold.inventory_levels' MERGE, before its commit
    crashed = run_cli(wh, *load, LOADER_CRASH_AFTER="merge:gold.inventory_levels")
    assert crashed.returncode == 137, crashed.stderr[-2000:]
    state = loader_state(wh)
    assert "gold.inventory_levels" not in state
    assert state["silver.sales_lines"][0] == delta_version(final, tables.SILVER_SALES_LINES)
    assert warehouse_frame(wh, tables.INVENTORY_LEVELS).empty
    rerun = run_cli(wh, *load)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert "gold.inventory_levels" in rerun.stdout
    for spec in DRILL_TABLES:
        pd.testing.assert_frame_equal(
            warehouse_frame(wh, spec),
            lake_frame(final, spec),
            check_dtype=False,
            obj=spec.qualified_name,
        )
    assert {n: v for n, (v, _, _) in loader_state(wh).items()} == {
        s.qualified_name: delta_version(final, s) for s in DRILL_TABLES
    }
