"""`python -m bench --size tiny` runs end to end and writes a well-formed result."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration


def _positive(value: object) -> bool:
    return isinstance(value, (int, float)) and value > 0


def test_tiny_bench_writes_result_table_and_chart(tmp_path: Path) -> None:
    env = {**os.environ, "PYSPARK_PYTHON": sys.executable, "SPARK_MASTER": "local[2]"}
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--size", "tiny", "--out", str(tmp_path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=840,
        cwd=Path(__file__).resolve().parent.parent,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    [result_file] = tmp_path.glob("*-tiny.json")
    assert result_file.with_suffix(".md").read_text().startswith("## Benchmark `tiny`")
    assert result_file.with_suffix(".png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "produce-to-gold" in done.stdout

    result = json.loads(result_file.read_text())
    assert result["meta"]["size"] == "tiny"
    assert [p["events"] for p in result["producer"]] == [1_000, 3_000]
    for figure in result["producer"]:
        stats = figure["events_per_s"]
        assert stats["runs"] == 2 and stats["min"] <= stats["median"] <= stats["max"]

    [catch_up] = result["catch_up"]
    assert set(catch_up["modes"]) == {"bronze", "bronze+silver", "full"}
    for mode in catch_up["modes"].values():
        [run] = mode["runs"]
        assert run["events"] == catch_up["ceiling"]["runs"][0]["events"]
        assert _positive(run["events_per_s"]) and run["batches"] >= 1
        assert run["batch_durations_ms"] and run["phases_ms"]
    assert _positive(catch_up["ceiling"]["events_per_s"]["median"])
    assert catch_up["ratio_to_ceiling"]["full"] > 0

    [steady] = result["steady_state"]
    assert steady["lag_bounded"] is True
    for layer in ("bronze", "silver", "gold_sales_by_product_minute"):
        figures = steady["outside"][layer]
        assert figures["n"] > 0
        assert 0 < figures["p50_ms"] <= figures["p95_ms"] <= figures["p99_ms"] <= figures["max_ms"]
    # a row is visible in bronze no later than the gold window it feeds
    assert (
        steady["outside"]["bronze"]["p50_ms"]
        <= (steady["outside"]["gold_sales_by_product_minute"]["p50_ms"])
    )
    assert steady["job"]["batches"] >= 1
    assert steady["files_per_table"]["bronze.sales_transactions"] >= 1
    assert result["soak"] == {"skipped": "size tiny has no soak"}
    assert _positive(result["resources"]["peak_rss_mb"]["jvm"])
    assert _positive(result["resources"]["peak_rss_mb"]["broker"])
