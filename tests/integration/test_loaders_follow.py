"""`lakehouse load --follow` keeps the live marts within seconds of the lake.

Sales are produced and handed, micro-batch after micro-batch, to the streaming job's
own batch function (PipelineBatchProcessor: silver, gold and ops.stream_batches exactly as
the running job writes them), while the follow loader runs beside it in a thread. Every
on-time sale must be counted in fct_daily_kpis and fct_product_sales_minute, measured
from its produce time, within the 60 s p95 target; and after the last refresh both
incrementally refreshed marts must equal the pandas computation from the landed silver
facts, as whole tables. Then the command itself runs, is stopped with SIGINT, and has
written its report.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
from kpi_expectations import (
    assert_same_table,
    expected_daily_kpis,
    expected_product_sales_minute,
    normalized,
    read_mart,
)

from loaders.follow import FollowLoader
from loaders.follow_freshness import FreshnessSummary
from mock.replay_lake import kafka_rows
from producer.catalog import build_catalog
from producer.clock import SimulatedClock
from producer.faults import FaultConfig
from producer.reference_tables import write_reference_tables
from producer.stream import generate_messages
from retail_lakehouse import tables, warehouse
from retail_lakehouse.settings import Settings

pytestmark = [pytest.mark.integration, pytest.mark.filterwarnings("ignore::UserWarning")]

BATCHES = 6
EVENTS_PER_BATCH = 400
SEED = 31


def _landed(settings: Settings) -> dict[str, pd.DataFrame]:
    """The landed tables the live marts read, as the warehouse holds them."""
    frames = {}
    with warehouse.connect(settings) as conn:
        for spec in (tables.SILVER_SALES_LINES, tables.STREAM_BATCHES, tables.STORES,
                     tables.PRODUCTS):  # fmt: skip
            cursor = conn.cursor()
            cursor.execute(f"select * from {spec.warehouse_name}")
            frames[spec.warehouse_name] = cursor.fetch_pandas_all()
    batches = frames[tables.STREAM_BATCHES.warehouse_name]
    batches["LATENCY_SAMPLE_MS"] = batches["LATENCY_SAMPLE_MS"].fillna("[]")
    return frames


@pytest.fixture(scope="module")
def followed(spark, tmp_path_factory):
    from spark_streaming.batch.plans import PLANS
    from spark_streaming.batch.processor import PipelineBatchProcessor
    from spark_streaming.lake_writer import make_lake_writer
    from spark_streaming.transforms.validation import validated_records

    root = tmp_path_factory.mktemp("follow")
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        lake_root=str(root / "lake"),
        checkpoint_root=str(root / "checkpoints"),
        warehouse_emulator_path=str(root / "warehouse"),
        dbt_artifacts_path=str(root / "dbt"),
        topic_sales="follow.sales",
        loader_follow_interval_s=2.0,
    )
    catalog = build_catalog(SEED, n_stores=4, n_products=40)
    write_reference_tables(settings, catalog)
    processor = PipelineBatchProcessor(
        [PLANS["sales"]], settings, make_lake_writer(spark, settings)
    )
    processor.bind("follow-test")
    # the shop's timeline runs about 15 minutes a batch: start it yesterday morning, when
    # the stores are open whatever the hour the test runs (at night only the website
    # sells, too few sales), and in the past (validation quarantines future events)
    clock = SimulatedClock((datetime.now(UTC) - timedelta(days=1)).replace(hour=10, minute=0))
    stream = generate_messages(
        settings, seed=SEED, events=None, faults=FaultConfig(late_rate=0.05), clock=clock,
        catalog=catalog,
    )  # fmt: skip
    stop = threading.Event()
    follower = FollowLoader(settings)
    errors: list[BaseException] = []

    def follow() -> None:
        try:
            follower.run(stop)
        except BaseException as error:  # surfaced by the test
            errors.append(error)
            stop.set()

    thread = threading.Thread(target=follow, name="follow")
    thread.start()
    produced = 0
    next_offset: dict[str, int] = {}
    warm = 0
    try:
        for batch_id in range(BATCHES):
            messages = [next(stream) for _ in range(EVENTS_PER_BATCH)]  # produced_at: now
            sales = [m for m in messages if m.topic == settings.topic_sales]
            records = spark.createDataFrame(kafka_rows(sales, next_offset))
            processor(validated_records(records, processor.families), batch_id)
            produced += len(sales)
            if batch_id == 0:
                # the follower's one-time start (the live marts' first, whole build) is
                # not what a running follower adds: measure from its first refresh on
                _wait(lambda: follower.report.refreshes >= 1 or bool(errors), 300)
                warm = len(follower.freshness.counted_s)
            time.sleep(2)
        # let the loader take the last batch (a shared machine can be slow): only a cycle
        # that started after the batch was written has surely landed it, and the one in
        # flight now may have started before
        landed_by = follower.report.cycles + 2
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and not errors:
            lines = follower.freshness._pending
            if follower.report.refreshes and not lines and follower.report.cycles >= landed_by:
                break
            time.sleep(1)
    finally:
        stop.set()
        thread.join(timeout=300)
    assert not thread.is_alive(), "the follower did not stop"
    assert not errors, errors
    steady = FreshnessSummary.of(follower.freshness.counted_s[warm:])
    return settings, follower.report, produced, steady


def _cycles(report_path: Path) -> int:
    try:
        return json.loads(report_path.read_text())["cycles"]
    except (OSError, ValueError):  # not written yet
        return 0


def _wait(predicate, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.5)


def test_every_sale_reaches_both_live_marts_within_the_target(followed):
    settings, report, produced, steady = followed
    print(f"follow mode, all sales: {report.describe()}; after warm-up: {steady.describe()}")
    landed = _landed(settings)
    lines = landed[tables.SILVER_SALES_LINES.warehouse_name]
    on_time = int((~lines["IS_LATE"].astype(bool)).sum())
    assert produced > 0 and len(lines) > 100
    assert report.refreshes >= 2, report
    # each landed on-time sale was measured once, each late one in the daily KPIs only
    assert report.freshness.sales == on_time
    assert report.daily_only_freshness.sales == len(lines) - on_time
    assert report.not_counted == 0
    assert steady.sales > 0.5 * report.freshness.sales
    assert steady.p95_s is not None and 0 < steady.p95_s <= 60.0, steady
    assert steady.meets_target


def test_the_incrementally_refreshed_marts_equal_pandas_from_the_landed_facts(followed):
    settings = followed[0]
    landed = _landed(settings)
    daily = normalized(read_mart(settings, "fct_daily_kpis"), tables.DAILY_KPIS.columns)
    assert_same_table(daily, expected_daily_kpis(landed), ["kpi_date"], "fct_daily_kpis")
    columns = tables.PRODUCT_SALES_MINUTE.columns[:-1]  # loaded_at is the landing time
    minute = normalized(read_mart(settings, "fct_product_sales_minute"), columns)
    assert_same_table(
        minute,
        normalized(expected_product_sales_minute(landed), columns),
        ["window_start", "product_id"],
        "fct_product_sales_minute",
    )


def test_the_command_follows_until_interrupted_and_writes_its_report(followed, tmp_path):
    settings = followed[0]
    report_path = tmp_path / "follow.json"
    env = {
        "LAKE_ROOT": settings.lake_root,
        "WAREHOUSE_EMULATOR_PATH": settings.warehouse_emulator_path,
        "DBT_ARTIFACTS_PATH": str(settings.dbt_artifacts_path),
        "LOADER_FOLLOW_INTERVAL_S": "1",
        "PATH": "/usr/bin:/bin",
    }
    # output to files, not pipes: a full pipe would stall the command while it is awaited
    out, err = tmp_path / "stdout.txt", tmp_path / "stderr.txt"
    command = [sys.executable, "-m", "lakehouse_cli", "load", "--follow", "--report"]
    with out.open("w") as stdout_file, err.open("w") as stderr_file:
        process = subprocess.Popen(
            [*command, str(report_path)],
            env=env, cwd=tmp_path, stdout=stdout_file, stderr=stderr_file, text=True,
        )  # fmt: skip
        # interrupted once its report shows two cycles, however long a cycle takes here
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and process.poll() is None and _cycles(report_path) < 2:
            time.sleep(0.5)
        process.send_signal(signal.SIGINT)
        process.wait(timeout=300)
    stdout, stderr = out.read_text(), err.read_text()
    assert process.returncode == 0, f"{stdout[-1000:]}\n{stderr[-3000:]}"
    report = json.loads(Path(report_path).read_text())
    assert report["cycles"] >= 2, report
    # the lake did not move: nothing to land again
    assert report["rows_loaded"] == 0, f"{report}\n{stderr[-3000:]}"
