"""Issue 16's targets as the bench evaluates them, on literal result entries."""

from __future__ import annotations

from bench.catch_up import with_marginal_rates
from bench.targets import evaluate, verdict


def _latency(p95_ms: float | None) -> dict:
    return {"n": 10, "p50_ms": 1.0, "p95_ms": p95_ms, "p99_ms": 1.0, "max_ms": 1.0}


def _steady(rate: float, gold_p95_ms: float, bounded: bool = True) -> dict:
    return {
        "rate": rate,
        "lag_bounded": bounded,
        "outside": {"gold_sales_by_product_minute": _latency(gold_p95_ms)},
        "spark_jobs_per_batch": 1.0,
    }


def _mode(wall_s: float, records: int) -> dict:
    rate = round(records / wall_s, 1)
    return {
        "events_per_s": {"median": rate, "min": rate, "max": rate, "runs": 1},
        "wall_s": {"median": wall_s, "min": wall_s, "max": wall_s, "runs": 1},
        "records": records,
        "runs": [{"spark_jobs_per_batch": 2.0, "wall_s": wall_s}],
    }


def test_latency_targets_follow_the_rate_and_need_bounded_lag():
    rows = evaluate(
        {
            "steady_state": [
                _steady(1_000, 1_900),
                _steady(5_000, 3_100),
                _steady(300, 100, bounded=False),
            ]
        }
    )
    by_target = {r["target"]: r for r in rows}
    at_1000 = by_target["produce-to-gold p95 at 1,000 events/s"]
    assert (at_1000["measured"], at_1000["goal"], verdict(at_1000)) == (1.9, "<= 2 s", "met")
    at_5000 = by_target["produce-to-gold p95 at 5,000 events/s"]
    assert (at_5000["goal"], verdict(at_5000)) == ("<= 3 s", "MISSED")
    at_300 = by_target["produce-to-gold p95 at 300 events/s"]
    assert verdict(at_300) == "(missed, smaller run)"  # fast, but lag was not bounded
    jobs = by_target["Spark jobs per micro-batch (most of any scenario)"]
    assert (jobs["measured"], verdict(jobs)) == (1.0, "met")


def test_catch_up_is_judged_on_the_marginal_rate_when_there_are_two_backlogs():
    small = {
        "events": 100_000,
        "modes": {"bronze+silver": _mode(10, 110_000), "full": _mode(12, 110_000)},
    }
    large = {
        "events": 1_000_000,
        "modes": {"bronze+silver": _mode(28, 1_100_000), "full": _mode(45.04, 1_100_000)},
    }
    entries = with_marginal_rates([small, large])
    # (1,100,000 - 110,000) records in (28 - 10) s, and in (45.04 - 12) s: from the
    # runs' walls, not the median the report rounds to 45.0
    assert large["modes"]["bronze+silver"]["marginal_events_per_s"] == 55_000.0
    assert large["modes"]["full"]["marginal_events_per_s"] == 29_963.7
    rows = {r["target"]: r for r in evaluate({"catch_up": entries})}
    bronze_silver = rows["catch-up from a 1,000,000-event backlog, bronze+silver"]
    assert (bronze_silver["measured"], verdict(bronze_silver)) == (55_000.0, "met")
    full = rows["catch-up from a 1,000,000-event backlog, full"]
    assert (full["measured"], verdict(full)) == (29_963.7, "MISSED")
    jobs = rows["Spark jobs per micro-batch (most of any scenario)"]
    assert verdict(jobs) == "MISSED"


def test_soak_flatness_and_the_demo():
    def slices(values_s: list[float], key: str) -> list[dict]:
        return [{key: v * 1000} for v in values_s]

    soak = {
        "rate": 1_000.0,
        "duration_s": 1_800,
        "outside": {"gold_sales_by_product_minute": _latency(1_500)},
        "gold_latency_series": slices([1.0, 1.1, 1.2, 2.0], "p95_ms"),
        "batch_duration_series": slices([0.5, 0.5, 0.6, 0.5], "median_ms"),
        "spark_jobs_per_batch": 1.0,
    }
    demo = {
        "events": 50_000,
        "rate": 1_000.0,
        "warehouse": True,
        "command": "lakehouse demo --events 50000",
        "peak_rss_gb": 4.2,
        "summary": {"steady_latency_p95_ms": 1_200.0},
    }
    rows = {r["target"]: r for r in evaluate({"soak": soak, "demo": demo})}
    latency_flat = rows["soak 30 min at 1,000 events/s: gold p95 flat"]
    # the last slice is 2.0 / median 1.15 = 1.74 times the median slice
    assert (latency_flat["measured"], verdict(latency_flat)) == (1.74, "MISSED")
    assert verdict(rows["soak 30 min at 1,000 events/s: batch time (median) flat"]) == "met"
    assert verdict(rows["soak 30 min at 1,000 events/s: produce-to-gold p95 over the run"]) == "met"
    memory = rows["`lakehouse demo --events 50000` peak memory (process tree)"]
    assert (memory["display"], verdict(memory)) == ("4.20 GB", "MISSED")
    assert verdict(rows["demo summary's steady-state p95"]) == "met"
