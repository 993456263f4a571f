"""`python -m bench --size tiny` runs and writes a well-formed result file.

The Spark sections (catch-up, steady state, soak) start streaming queries and take
minutes even at tiny sizes; the smoke test runs the producer and the bare-consumer
ceiling, which exercise the broker, the result file, the table and the chart.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration


def test_tiny_bench_writes_result_table_and_chart(tmp_path: Path) -> None:
    done = subprocess.run(
        [
            sys.executable, "-m", "bench", "--size", "tiny",
            "--only", "producer,ceiling", "--out", str(tmp_path),
        ],
        env={**os.environ, "PYSPARK_PYTHON": sys.executable},
        capture_output=True,
        text=True,
        timeout=600,
        cwd=Path(__file__).resolve().parent.parent,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-4000:]
    [result_file] = tmp_path.glob("*-tiny.json")
    table = result_file.with_suffix(".md").read_text()
    assert table.startswith("## Benchmark `tiny`") and "| 3,000 |" in table
    assert result_file.with_suffix(".png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "producer:" in done.stdout and "ceiling" in done.stdout

    result = json.loads(result_file.read_text())
    assert result["meta"]["size"] == "tiny"
    assert result["meta"]["sections"] == ["ceiling", "producer"]
    assert [p["events"] for p in result["producer"]] == [1_000, 3_000]
    for figure in [p["events_per_s"] for p in result["producer"]] + [
        c["events_per_s"] for c in result["ceiling"]
    ]:
        assert figure["runs"] == 2
        assert 0 < figure["min"] <= figure["median"] <= figure["max"]
    [ceiling] = result["ceiling"]
    # the bare consumer read every record the producer delivered, each run
    assert {run["events"] for run in ceiling["runs"]} == {ceiling["events"]}
    assert ceiling["events"] > 3_000  # faults (duplicates, malformed) add records
    assert result["catch_up"] == [] and result["steady_state"] == []


GENERATED_STEADY_STATE = """
import json, sys, tempfile
from pathlib import Path
from bench.runner import Bench
from bench.sizes import SIZES
from retail_lakehouse import logs
logs.configure("WARNING")
with tempfile.TemporaryDirectory() as work:
    bench = Bench(SIZES["tiny"], Path(work))
    with bench.running():
        result = bench.steady_state(200, 20, buckets=4, source="generated")
print(json.dumps(result, default=str))
"""


def test_the_soak_can_be_fed_by_the_generated_source(tmp_path: Path) -> None:
    """`--soak-source generated`: the queries start first, then the generated traffic
    begins; the run is measured from the Delta logs like a broker-fed one."""
    done = subprocess.run(
        [sys.executable, "-c", GENERATED_STEADY_STATE],
        env={**os.environ, "PYSPARK_PYTHON": sys.executable},
        capture_output=True,
        text=True,
        timeout=900,
        cwd=Path(__file__).resolve().parent.parent,
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
    assert result["batches"] > 0 and result["phases_ms"]["gold"] > 0
    assert all(files >= 1 for files in result["files_per_table"].values())
