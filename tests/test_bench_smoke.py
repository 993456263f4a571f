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
