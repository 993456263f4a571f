"""No load can lose or double rows: two loads at once, an older change arriving after a
newer one, a dropped landed table, a loader whose clock is behind, compaction, deletes
and vacuumed history. The lake is written by the project's own Delta writer
(loaders_lake_builder.py); the warehouse is fakesnow behind the real Snowflake
connector; expectations are the Delta tables themselves, compared whole.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest
from deltalake import DeltaTable
from loaders_lake_builder import LakeBuilder
from loaders_warehouse_frames import (
    delta_version,
    lake_frame,
    loader_state,
    run_cli,
    warehouse_frame,
)

from loaders import crash_drill, upsert
from loaders.delta_changes import ChangeChunk
from loaders.lake_to_snowflake import LoadConflictError, load_lake
from loaders.upsert import Target
from loaders.warehouse_types import WarehouseColumn
from producer.catalog import build_catalog
from producer.clock import SimulatedClock
from producer.faults import FaultConfig
from producer.reference_tables import write_reference_tables
from producer.stream import generate_messages
from retail_lakehouse import lake, tables, warehouse
from retail_lakehouse.settings import Settings

pytestmark = [pytest.mark.integration, pytest.mark.filterwarnings("ignore::UserWarning")]

START = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
SKEWED_CLOCK = Path(__file__).with_name("skewed_clock")
NOISY = FaultConfig(duplicate_rate=0.03, out_of_order_rate=0.05, malformed_rate=0.03)
# the tables these tests follow: an append-only fact, a MERGEd gold table, a reference
FOLLOWED = (tables.SILVER_SALES_LINES, tables.SALES_BY_PRODUCT_MINUTE, tables.PRODUCTS)


class Lake:
    """A lake fed in batches of seeded messages, and settings for a warehouse beside it."""

    def __init__(self, root: Path, *, change_data_feed: bool = True) -> None:
        self.root = root
        self.settings = Settings(
            _env_file=None,  # type: ignore[call-arg]
            lake_root=str(root / "lake"),
            warehouse_emulator_path=str(root / "warehouse"),
        )
        self.catalog = build_catalog(5, n_stores=4, n_products=30)
        write_reference_tables(self.settings, self.catalog)
        self.builder = LakeBuilder(self.settings, self.catalog, change_data_feed=change_data_feed)
        self.fed = 0

    def feed(self, events: int = 240) -> None:
        messages = list(
            generate_messages(
                self.settings,
                seed=11 + self.fed,
                events=events,
                faults=NOISY,
                clock=SimulatedClock(START + timedelta(minutes=7 * self.fed)),
                catalog=self.catalog,
            )
        )
        self.fed += 1
        self.builder.feed(messages)

    def rows(self, spec) -> int:
        return len(lake_frame(self.settings, spec))


def assert_landed_equals_lake(settings: Settings, specs=FOLLOWED) -> None:
    for spec in specs:
        pd.testing.assert_frame_equal(
            warehouse_frame(settings, spec),
            lake_frame(settings, spec),
            check_dtype=False,
            obj=spec.qualified_name,
        )


def names(specs) -> list[str]:
    return [s.qualified_name for s in specs]


@pytest.fixture
def fed_lake(tmp_path) -> Lake:
    lake_ = Lake(tmp_path)
    lake_.feed()
    lake_.feed()
    return lake_


def test_two_loads_at_once_one_wins_and_nothing_is_lost_or_doubled(fed_lake, monkeypatch):
    """Load A stages the lake as it was, then waits; meanwhile the lake moves on and
    load B lands everything. A must then fail with a clear conflict and write nothing:
    its own staged rows survive B (a private staging table), its older rows never
    overwrite B's, and LOADER_STATE stays at B's version."""
    settings = fed_lake.settings
    a_staged, b_done = threading.Event(), threading.Event()
    real = crash_drill.maybe_crash

    def pause_a(phase: str, table: str) -> None:
        if threading.current_thread().name == "load-a" and phase == "stage":
            a_staged.set()
            assert b_done.wait(timeout=120), "load B never finished"
        real(phase, table)

    monkeypatch.setattr(crash_drill, "maybe_crash", pause_a)
    outcome: dict[str, BaseException] = {}

    def load_a() -> None:
        try:
            load_lake(settings, tables=["silver.sales_lines"], progress=False)
        except BaseException as error:
            outcome["a"] = error

    a = threading.Thread(target=load_a, name="load-a")
    a.start()
    assert a_staged.wait(timeout=120)
    fed_lake.feed()  # the lake moves on while A waits
    b = load_lake(settings, tables=["silver.sales_lines"], progress=False)
    b_done.set()
    a.join(timeout=120)

    assert isinstance(outcome.get("a"), LoadConflictError), outcome
    message = str(outcome["a"])
    assert message.startswith("silver.sales_lines: another load or reload wrote this table")
    assert "wrote nothing" in message and "rerun `lakehouse load`" in message
    final = delta_version(settings, tables.SILVER_SALES_LINES)
    assert b.tables[0].to_version == final
    assert loader_state(settings)["silver.sales_lines"][0] == final
    assert_landed_equals_lake(settings, (tables.SILVER_SALES_LINES,))


def test_an_older_change_never_overwrites_or_deletes_a_newer_landed_row(tmp_path):
    settings = Settings(_env_file=None, warehouse_emulator_path=str(tmp_path / "wh"))  # type: ignore[call-arg]
    target = Target(
        "LAKEHOUSE",
        "RETAIL",
        "GUARDED",
        (
            WarehouseColumn("K", "NUMBER(38,0)"),
            WarehouseColumn("V", "VARCHAR"),
            WarehouseColumn("_LOADED_AT", "TIMESTAMP_NTZ"),
            WarehouseColumn("_DELTA_VERSION", "NUMBER(38,0)"),
        ),
        ("K",),
    )
    landed_at, merged_at = datetime(2026, 3, 2, 9), datetime(2026, 3, 2, 10)
    with warehouse.connect(settings) as conn:
        upsert.ensure_schema(conn, "LAKEHOUSE", "RETAIL")
        upsert.ensure_table(conn, target)
        conn.cursor().execute(
            "INSERT INTO \"GUARDED\" VALUES (1, 'v9', %(at)s, 9), (2, 'v9', %(at)s, 9), "
            "(3, 'v9', %(at)s, 9), (4, 'v9', %(at)s, 9)",
            {"at": landed_at},
        )
        upsert.create_staging(conn, target)
        staged = ChangeChunk(
            pa.table({"k": [1, 2, 3, 4, 5], "v": ["v7", None, "v10", None, "v8"]}),
            pa.array([7, 8, 10, 11, 8], pa.int64()),
            pa.array([False, True, False, True, False]),
        )
        rows, _ = upsert.staging_frame(staged, ("k",), first_seq=0)
        upsert.stage(conn, target, rows, "write_pandas")
        counts = upsert.merge(conn, target, loaded_at=merged_at)
        cursor = conn.cursor()
        cursor.execute('SELECT "K", "V", "_LOADED_AT", "_DELTA_VERSION" FROM "GUARDED" ORDER BY 1')
        landed = cursor.fetchall()
    assert landed == [
        (1, "v9", landed_at, 9),  # an update as of version 7 is older than the landed 9
        (2, "v9", landed_at, 9),  # so is a delete as of 8
        (3, "v10", merged_at, 10),  # a newer update lands
        (5, "v8", merged_at, 8),  # a new key lands; key 4's newer delete removed it
    ]
    assert (counts.inserted, counts.updated, counts.deleted) == (1, 1, 1)


def test_a_dropped_landed_table_comes_back_whole(fed_lake):
    """The schema-drift advice used to be 'drop it': the state then survived and the
    next load landed only later versions into the recreated, empty table."""
    settings = fed_lake.settings
    load_lake(settings, tables=names(FOLLOWED), progress=False)
    with warehouse.connect(settings) as conn:
        conn.cursor().execute(f"DROP TABLE {tables.SILVER_SALES_LINES.warehouse_name}")
        conn.cursor().execute(f"DROP TABLE {tables.PRODUCTS.warehouse_name}")
    fed_lake.feed()

    # the command the drift error names
    done = run_cli(
        settings, "load", "--no-progress", "--full-refresh", "--table", "silver.sales_lines"
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "reloaded whole" in done.stdout
    assert_landed_equals_lake(settings, (tables.SILVER_SALES_LINES,))
    # and a plain load notices a dropped table by itself
    report = load_lake(settings, tables=["reference.products"], progress=False)
    assert report.tables[0].full_refresh
    assert_landed_equals_lake(settings, (tables.PRODUCTS,))
    state = loader_state(settings)
    for spec in (tables.SILVER_SALES_LINES, tables.PRODUCTS):
        assert state[spec.qualified_name][0] == delta_version(settings, spec)


def test_full_refresh_recreates_a_table_whose_columns_changed(fed_lake):
    settings = fed_lake.settings
    load_lake(settings, tables=["reference.products"], progress=False)
    products = DeltaTable(lake.uri(settings, tables.PRODUCTS)).to_pyarrow_table()
    seasonal = products.append_column("season", pa.array(["winter"] * products.num_rows))
    from deltalake import write_deltalake

    write_deltalake(
        lake.uri(settings, tables.PRODUCTS), seasonal, mode="overwrite", schema_mode="overwrite"
    )
    refused = run_cli(settings, "load", "--no-progress", "--table", "reference.products")
    assert refused.returncode == 1
    assert "--full-refresh --table reference.products" in refused.stderr
    done = run_cli(
        settings, "load", "--no-progress", "--full-refresh", "--table", "reference.products"
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert_landed_equals_lake(settings, (tables.PRODUCTS,))


def test_a_loader_whose_clock_is_an_hour_behind_stamps_rows_with_the_warehouse_clock(fed_lake):
    """The incremental minute mart takes rows whose _LOADED_AT is at or after the newest
    it holds: rows stamped by a slow client clock would be skipped for good."""
    settings = fed_lake.settings
    load_lake(settings, tables=names(FOLLOWED), progress=False)
    first = warehouse_frame(settings, tables.SALES_BY_PRODUCT_MINUTE, with_loader_columns=True)
    fed_lake.feed()
    before = _warehouse_now(settings)
    done = run_cli(
        settings,
        "load",
        "--no-progress",
        "--tables",
        ",".join(names(FOLLOWED)),
        PYTHONPATH=str(SKEWED_CLOCK),
        CLOCK_SKEW_S=str(-3600),
    )
    assert done.returncode == 0, done.stderr[-2000:]
    after = _warehouse_now(settings)
    second = warehouse_frame(settings, tables.SALES_BY_PRODUCT_MINUTE, with_loader_columns=True)
    new_stamps = set(second["_loaded_at"]) - set(first["_loaded_at"])
    assert new_stamps, "the second load changed no window"
    assert all(before <= stamp <= after for stamp in new_stamps), (before, new_stamps, after)
    assert min(new_stamps) > max(first["_loaded_at"])
    assert_landed_equals_lake(settings)


def _warehouse_now(settings: Settings) -> datetime:
    with warehouse.connect(settings) as conn:
        return conn.cursor().execute("SELECT SYSDATE()").fetchone()[0]


@pytest.mark.parametrize("change_data_feed", [True, False], ids=["cdf", "no-cdf"])
def test_compaction_restages_nothing_and_deletes_reach_the_warehouse(tmp_path, change_data_feed):
    lake_ = Lake(tmp_path, change_data_feed=change_data_feed)
    lake_.feed()
    lake_.feed()
    settings = lake_.settings
    load_lake(settings, tables=names(FOLLOWED), progress=False)
    silver_before = lake_.rows(tables.SILVER_SALES_LINES)
    gold_before = lake_frame(settings, tables.SALES_BY_PRODUCT_MINUTE)

    for spec in FOLLOWED:
        lake_.builder.writer.compact(spec)
    lake_.feed()
    gold = DeltaTable(lake.uri(settings, tables.SALES_BY_PRODUCT_MINUTE))
    gone = gold_before.iloc[0]
    gold.delete(
        f"window_start = '{gone['window_start'].isoformat()}' AND product_id = {gone['product_id']}"
    )
    DeltaTable(lake.uri(settings, tables.PRODUCTS)).delete(
        f"product_id = {lake_.catalog.products[0].product_id}"
    )

    report = load_lake(settings, tables=names(FOLLOWED), progress=False)
    silver, minute, products = (report.table(s.qualified_name) for s in FOLLOWED)
    added = lake_.rows(tables.SILVER_SALES_LINES) - silver_before
    # only the appended lines are read and staged, none of the compacted ones
    assert (silver.rows_read, silver.rows_inserted, silver.rows_updated) == (added, added, 0)
    gold_after = lake_frame(settings, tables.SALES_BY_PRODUCT_MINUTE)
    changed = _changed_or_new(gold_before, gold_after, ["window_start", "product_id"])
    assert minute.rows_inserted + minute.rows_updated == changed
    assert minute.rows_read == changed + 1  # the changed windows and the deleted one
    assert minute.rows_deleted == 1 and products.rows_deleted == 1
    assert not minute.full_refresh and not silver.full_refresh
    assert_landed_equals_lake(settings)


def _changed_or_new(before: pd.DataFrame, after: pd.DataFrame, keys: list[str]) -> int:
    joined = after.merge(before, on=keys, how="left", suffixes=("", "_b"), indicator=True)
    new = joined["_merge"] == "left_only"
    values = [c for c in after.columns if c not in keys]
    differs = pd.Series(False, index=joined.index)
    for column in values:
        a, b = joined[column], joined[f"{column}_b"]
        differs |= ~((a == b) | (a.isna() & b.isna()))
    return int((new | differs).sum())


def test_vacuumed_history_reloads_the_table_whole(fed_lake):
    """Appended files compacted and vacuumed before the loader read them: their changes
    are gone from the lake's history, so the table is reloaded whole, still exactly."""
    settings = fed_lake.settings
    load_lake(settings, tables=names(FOLLOWED), progress=False)
    fed_lake.feed()
    silver = DeltaTable(lake.uri(settings, tables.SILVER_SALES_LINES))
    silver.optimize.compact()
    silver.vacuum(retention_hours=0, enforce_retention_duration=False, dry_run=False)
    report = load_lake(settings, tables=names(FOLLOWED), progress=False)
    assert report.table("silver.sales_lines").full_refresh
    assert not report.table("gold.sales_by_product_minute").full_refresh
    assert_landed_equals_lake(settings)
