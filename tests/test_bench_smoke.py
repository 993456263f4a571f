"""`python -m bench --size tiny` runs every section end to end (the profile too) and
writes a result file with a number for each of issue 16's targets (how fast is not
asserted: the tiny size is far from the issue's conditions, and CI machines vary)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench.profile import JVM_GROUPS

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parent.parent


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value >= 0


def test_tiny_bench_measures_every_target_and_writes_table_and_chart(tmp_path: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench",
            "--size",
            "tiny",
            "--out",
            str(tmp_path),
            "--only",
            "catch_up,demo,producer,soak,steady_state,profile",
        ],
        env={**os.environ, "PYSPARK_PYTHON": sys.executable},
        capture_output=True,
        text=True,
        timeout=900,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    [result_file] = tmp_path.glob("*-tiny.json")
    result = json.loads(result_file.read_text())
    assert result["meta"]["size"] == "tiny"
    assert result["meta"]["sections"] == [
        "catch_up",
        "demo",
        "producer",
        "profile",
        "soak",
        "steady_state",
    ]

    # the targets, each with a measured number
    measured = {row["target"]: row["measured"] for row in result["targets"]}
    expected = [
        "produce-to-gold p95 at 300 events/s",
        "catch-up from a 3,000-event backlog, bronze+silver",
        "catch-up from a 3,000-event backlog, full",
        "soak 10 s at 200 events/s: gold p95 flat",
        "soak 10 s at 200 events/s: batch time (median) flat",
        "soak 10 s at 200 events/s: produce-to-gold p95 over the run",
        "`lakehouse demo --events 2000 --rate 100 --no-warehouse --history-days 0` peak memory "
        "(process tree)",
        "demo summary's steady-state p95",
        "Spark jobs per micro-batch (most of any scenario)",
    ]
    assert list(measured) == expected
    assert all(_number(measured[target]) for target in expected), measured

    # the details behind them
    [catch_up] = result["catch_up"]
    assert set(catch_up["modes"]) == {"bronze+silver", "full"}
    for mode in catch_up["modes"].values():
        [run] = mode["runs"]
        assert run["events"] > 3_000  # faults (duplicates, malformed) add records
        assert run["batches"] >= 1 and run["spark_jobs_per_batch"] >= 1
        assert run["phases_ms_median"]["read_validate"] > 0
    assert catch_up["ceiling"]["runs"][0]["events"] == catch_up["modes"]["full"]["records"]
    [steady] = result["steady_state"]
    assert steady["lag_bounded"] and steady["outside"]["gold_sales_by_product_minute"]["n"] > 0
    assert steady["job"]["pooled_sample"]["n"] > 0
    assert steady["trigger_ms_median"]["spark_overhead_ms"] >= 0
    soak = result["soak"]
    assert soak["source"] == "broker" and len(soak["gold_latency_series"]) == 3
    demo = result["demo"]
    assert demo["resources"]["peak_rss_mb"]["broker"] > 0  # the demo's own broker
    assert demo["summary"]["steady_latency_samples"] > 0
    assert [p["events"] for p in result["producer"]] == [1_000, 3_000]

    # the profile: JFR sampled Spark's task threads while they ran the batch's one job,
    # py-spy the foreachBatch call down into the driver's batch work
    profile = result["profile"]
    assert profile["events"] > 3_000 and profile["batches"] >= 1
    executors = profile["executors"]
    assert executors["samples"] > 0, executors
    groups = dict(executors["groups"])
    assert abs(sum(groups.values()) - 1) < 0.01
    assert set(groups) <= {name for name, _ in JVM_GROUPS} | {"other"}
    assert executors["top_leaf_methods"]
    driver = profile["driver"]
    assert driver["batch_thread_samples"] > 0, driver
    inclusive = dict(driver["inclusive"])
    assert inclusive["processor.PipelineBatchProcessor.__call__"] == 1.0
    assert "processor.PipelineBatchProcessor._process" in inclusive

    table = result_file.with_suffix(".md").read_text()
    assert table.startswith("## Benchmark `tiny`")
    assert table.index("### Targets (issue 16)") < table.index("### Catch-up")
    assert "| where (first library from the leaf up) | share |" in table
    assert result_file.with_suffix(".png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "produce-to-gold p95 at 300 events/s" in done.stdout

    # the chart and table are drawn again from the result file alone
    result_file.with_suffix(".png").unlink()
    rendered = subprocess.run(
        [sys.executable, "-m", "bench", "--render", str(result_file)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert rendered.returncode == 0, rendered.stderr[-2000:]
    assert result_file.with_suffix(".png").exists()
    assert result_file.with_suffix(".md").read_text() == table


GENERATED_STEADY_STATE = """
import json, sys, tempfile
from pathlib import Path
from bench.stack import Bench
from bench.steady_state import steady_state
from bench.sizes import SIZES
from retail_lakehouse import logs
logs.configure("WARNING")
with tempfile.TemporaryDirectory() as work:
    bench = Bench(SIZES["tiny"], Path(work))
    with bench.running():
        result = steady_state(bench, 200, 20, slices=4, source="generated")
print(json.dumps(result, default=str))
"""


def test_the_soak_can_be_fed_by_the_generated_source() -> None:
    """`--soak-source generated`: the query starts first, then the generated traffic
    begins; the run is measured from the Delta logs like a broker-fed one."""
    done = subprocess.run(
        [sys.executable, "-c", GENERATED_STEADY_STATE],
        env={**os.environ, "PYSPARK_PYTHON": sys.executable},
        capture_output=True,
        text=True,
        timeout=900,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["source"] == "generated" and result["events"] == 4_000
    assert result["lag_bounded"] and result["drain_s"] >= 0
    # the warm-up's sales are reported apart from the measured 20 s
    assert result["warmup"]["gold_sales_by_product_minute"]["n"] > 0
    series = result["gold_latency_series"]
    assert len(series) == 4 and sum(s["n"] for s in series) > 0
    assert all(s["p95_ms"] > 0 for s in series if s["n"])
    assert result["batches"] > 0 and result["spark_jobs_per_batch"] >= 1
    assert result["phases_ms_median"]["read_validate"] > 0
    assert all(files >= 1 for files in result["files_per_table"].values())
