"""mock/ scripts run as a user runs them (subprocess, fresh process, no broker), and
what they write equals an independent computation over the same seeded events."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest
from deltalake import DeltaTable
from pandas.testing import assert_frame_equal

from producer.catalog import build_catalog
from producer.clock import utc_now
from retail_lakehouse.contracts import FAMILIES
from retail_lakehouse.settings import Settings
from retail_lakehouse.tables import AGGREGATES_DAILY_COLUMNS
from spark_streaming.generated_source import GeneratorOptions, messages

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
FIRST_DAY = datetime(2026, 3, 2, tzinfo=UTC)  # independent of the script's constant
SALES_TOPIC = Settings.model_construct().topic_sales


def run_script(name: str, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, str(ROOT / "mock" / name), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def options(
    *, events: int | None, faults: bool, start: str | None, rate: float
) -> GeneratorOptions:
    topics = tuple((f.topic_setting, Settings.model_construct().topic(f)) for f in FAMILIES)
    return GeneratorOptions(
        topics=(SALES_TOPIC,), topic_names=topics, total_events=events, faults=faults,
        start=start, rows_per_second=rate,
    )  # fmt: skip


def sale_lines(values: list[bytes]) -> pd.DataFrame:
    """silver.sales_lines' business columns, computed from the raw JSON with pandas."""
    rows = []
    for value in values:
        sale = json.loads(value)
        for line in sale["lines"]:
            rows.append(
                {
                    "event_id": sale["event_id"],
                    "transaction_id": sale["transaction_id"],
                    "line_number": line["line_number"],
                    "product_id": line["product_id"],
                    "quantity": line["quantity"],
                    "line_revenue": Decimal(str(line["quantity"]))
                    * Decimal(str(line["unit_price"]))
                    - Decimal(str(line["discount"])),
                }
            )
    return frame(pd.DataFrame(rows))


def frame(df: pd.DataFrame) -> pd.DataFrame:
    df = df.astype({"line_number": "int64", "product_id": "int64", "quantity": "int64"})
    df["line_revenue"] = df["line_revenue"].map(lambda d: Decimal(d).quantize(Decimal("0.01")))
    return df.sort_values(["event_id", "line_number"]).reset_index(drop=True)


@pytest.mark.timeout(1800)  # two Spark runs; slow only on a saturated machine
def test_mock_stream_writes_the_generated_events_and_resumes_on_the_same_offsets(
    tmp_path: Path,
) -> None:
    lake = tmp_path / "lake"
    common = ["--rate", "0", "--no-faults", "--families", "sales",
              "--lake", str(lake)]  # fmt: skip
    run_script("run_mock_stream.py", "--events", "150", *common, cwd=tmp_path)
    # a restart on the same lake and checkpoint with a longer sequence: the first
    # offsets must be the same events, read once
    run_script("run_mock_stream.py", "--events", "300", *common, cwd=tmp_path)

    start = (lake / "_checkpoints" / "_generated_source_start").read_text().strip()
    expected = [
        (key, value, offset)
        for offset, (key, value) in enumerate(
            (m[1], m[2])
            for m in messages(options(events=300, faults=False, start=start, rate=0))
            if m[0] == SALES_TOPIC
        )
    ]
    bronze = DeltaTable(str(lake / "bronze" / "sales_transactions")).to_pandas()
    actual = bronze[["key", "value", "offset", "topic", "partition"]].sort_values("offset")
    assert_frame_equal(
        actual.reset_index(drop=True),
        pd.DataFrame(expected, columns=["key", "value", "offset"])
        .assign(topic=SALES_TOPIC, partition=0)
        .astype({"partition": "int32"}),
        check_dtype=False,
    )

    silver = DeltaTable(str(lake / "silver" / "sales_lines")).to_pandas()
    columns = [
        "event_id",
        "transaction_id",
        "line_number",
        "product_id",
        "quantity",
        "line_revenue",
    ]
    assert_frame_equal(frame(silver[columns]), sale_lines([v for _, v, _ in expected]))


@pytest.mark.timeout(1200)
def test_batch_kpis_equal_an_independent_daily_rollup(tmp_path: Path) -> None:
    output = tmp_path / "aggregates_daily.csv"
    done = run_script("run_batch_kpis.py", "--days", "1", "--seed", "7", "--output", str(output),
                      "--lake", str(tmp_path / "lake"), cwd=tmp_path)  # fmt: skip
    assert "streaming_latency_ms is empty" in done.stdout
    actual = pd.read_csv(output)
    assert list(actual.columns) == list(AGGREGATES_DAILY_COLUMNS)
    assert actual["streaming_latency_ms"].isna().all()

    # independent: the same seeded day of sales, straight from the producer, in pandas
    opts = dataclasses.replace(
        options(events=None, faults=False, start=FIRST_DAY.isoformat(), rate=1000), seed=7
    )
    lines = []
    zones = {store.store_id: store.time_zone for store in build_catalog(7).stores}
    # stamped by a wall clock as the script does: the simulated day starts at FIRST_DAY
    for topic, _, value, _, at in messages(opts, wall_clock=utc_now):
        if at >= FIRST_DAY + timedelta(days=1):
            break
        if topic == SALES_TOPIC:
            sale = json.loads(value)
            for line in sale["lines"]:
                revenue = line["quantity"] * Decimal(str(line["unit_price"])) - Decimal(
                    str(line["discount"])
                )
                # the business date: the selling store's local date
                local = pd.Timestamp(sale["event_time"]).tz_convert(zones[sale["store_id"]])
                lines.append((str(local.date()), sale["transaction_id"],
                              line["quantity"], revenue))  # fmt: skip
    df = pd.DataFrame(lines, columns=["date", "transaction_id", "quantity", "revenue"])
    expected = df.groupby("date", as_index=False).agg(
        orders=("transaction_id", "nunique"),
        revenue_usd=("revenue", lambda r: float(sum(r))),
        units=("quantity", "sum"),
    )
    expected["avg_order_value_usd"] = (expected["revenue_usd"] / expected["orders"]).round(2)
    expected["revenue_usd"] = expected["revenue_usd"].round(2)
    expected["streaming_latency_ms"] = float("nan")
    expected = expected[list(AGGREGATES_DAILY_COLUMNS)]
    assert_frame_equal(actual, expected, check_dtype=False)
