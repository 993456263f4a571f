"""Issue 16's targets, each with the value a result measured and whether it is met.

A row says whether it was measured under the issue's conditions (1,000 and 5,000
events/s, a 1,000,000-event backlog, 30 minutes at 1,000 events/s, `make demo`'s
50,000 events with the warehouse); a smaller size's verdict is shown in parentheses.
"""

from __future__ import annotations

import statistics
from typing import Any

FLAT_RATIO = 1.5  # "flat": no slice above 1.5 x the median slice
LATENCY_TARGETS_S = ((1_000.0, 2.0), (5_000.0, 3.0))  # (up to this rate, p95 at most)
CATCH_UP_TARGETS = {"bronze+silver": 50_000.0, "full": 30_000.0}
DEMO_PEAK_GB = 4.0
DEMO_P95_S = 2.0


def _row(
    target: str, measured: float | None, display: str, goal: str, met: bool | None, **extra: Any
) -> dict[str, Any]:
    return {
        "target": target,
        "measured": measured,
        "display": display,
        "goal": goal,
        "met": met,
        **extra,
    }


def evaluate(result: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        *_latency(result.get("steady_state") or []),
        *_catch_up(result.get("catch_up") or []),
        *_soak(result.get("soak") or {}),
        *_demo(result.get("demo") or {}),
        *_jobs(result),
    ]


def _latency(entries: list[dict]) -> list[dict]:
    rows = []
    for s in entries:
        rate = s["rate"]
        limit = next((lim for up_to, lim in LATENCY_TARGETS_S if rate <= up_to), None)
        p95 = s["outside"]["gold_sales_by_product_minute"]["p95_ms"]
        value = p95 / 1000 if p95 is not None else None
        rows.append(
            _row(
                f"produce-to-gold p95 at {rate:,.0f} events/s",
                value,
                _s(value) + ("" if s["lag_bounded"] else " (lag not bounded)"),
                f"<= {limit:g} s" if limit else "reported",
                None if value is None or limit is None else value <= limit and s["lag_bounded"],
                as_specified=rate in (1_000.0, 5_000.0),
            )
        )
    return rows


def _catch_up(entries: list[dict]) -> list[dict]:
    if not entries:
        return []
    last = entries[-1]
    rows = []
    for mode, goal in CATCH_UP_TARGETS.items():
        figures = last["modes"][mode]
        whole = figures["events_per_s"]["median"]
        marginal = figures.get("marginal_events_per_s")
        value = marginal if marginal is not None else whole
        how = (
            f"marginal over the {figures['marginal_over_backlog']:,} backlog; "
            f"launch to last commit {_n(whole)}/s"
            if marginal is not None
            else "launch to last commit"
        )
        rows.append(
            _row(
                f"catch-up from a {last['events']:,}-event backlog, {mode}",
                value,
                f"{_n(value)} events/s ({how})",
                f">= {goal:,.0f} events/s",
                None if value is None else value >= goal,
                as_specified=last["events"] >= 1_000_000,
            )
        )
    return rows


def _soak(soak: dict) -> list[dict]:
    if not soak or soak.get("skipped"):
        return []
    specified = soak["rate"] == 1_000.0 and soak["duration_s"] >= 1_800
    minutes = soak["duration_s"] / 60
    at = f"{minutes:.0f} min" if minutes >= 2 else f"{soak['duration_s']:.0f} s"
    at += f" at {soak['rate']:,.0f} events/s"
    p95s = [x["p95_ms"] / 1000 for x in soak["gold_latency_series"] if x["p95_ms"] is not None]
    batches = [
        x["median_ms"] / 1000 for x in soak["batch_duration_series"] if x["median_ms"] is not None
    ]
    rows = []
    for what, values in (("gold p95", p95s), ("batch time (median)", batches)):
        ratio = max(values) / statistics.median(values) if values else None
        rows.append(
            _row(
                f"soak {at}: {what} flat",
                round(ratio, 2) if ratio else None,
                f"{min(values):.2f} to {max(values):.2f} s per slice, max/median {ratio:.2f}"
                if ratio
                else "-",
                f"flat: max slice <= {FLAT_RATIO} x median slice",
                None if ratio is None else ratio <= FLAT_RATIO,
                as_specified=specified,
            )
        )
    p95 = soak["outside"]["gold_sales_by_product_minute"]["p95_ms"]
    value = p95 / 1000 if p95 is not None else None
    rows.append(
        _row(
            f"soak {at}: produce-to-gold p95 over the run",
            value,
            _s(value),
            "<= 2 s",
            None if value is None else value <= 2.0,
            as_specified=specified,
        )
    )
    return rows


def _demo(demo: dict) -> list[dict]:
    if not demo or demo.get("skipped"):
        return []
    specified = demo["events"] == 50_000 and demo["warehouse"] and demo["rate"] == 1_000.0
    peak = demo["peak_rss_gb"]
    p95_ms = demo["summary"].get("steady_latency_p95_ms")
    p95 = p95_ms / 1000 if p95_ms is not None else None
    return [
        _row(
            f"`{demo['command']}` peak memory (process tree)",
            peak,
            f"{peak:.2f} GB",
            f"<= {DEMO_PEAK_GB:g} GB",
            peak <= DEMO_PEAK_GB,
            as_specified=specified,
        ),
        _row(
            "demo summary's steady-state p95",
            p95,
            _s(p95),
            f"<= {DEMO_P95_S:g} s",
            None if p95 is None else p95 <= DEMO_P95_S,
            as_specified=specified,
        ),
    ]


def jobs_per_batch(result: dict[str, Any]) -> dict[str, float]:
    """Spark jobs per micro-batch of every scenario that ran the query."""
    found = {}
    for c in result.get("catch_up") or []:
        for mode, figures in c["modes"].items():
            for i, run in enumerate(figures["runs"]):
                found[f"catch-up {c['events']:,} {mode} #{i + 1}"] = run["spark_jobs_per_batch"]
    for s in result.get("steady_state") or []:
        found[f"steady {s['rate']:,.0f}/s"] = s["spark_jobs_per_batch"]
    soak = result.get("soak") or {}
    if soak and not soak.get("skipped"):
        found["soak"] = soak["spark_jobs_per_batch"]
    return {k: v for k, v in found.items() if v is not None}


def _jobs(result: dict[str, Any]) -> list[dict]:
    found = jobs_per_batch(result)
    if not found:
        return []
    worst = max(found.values())
    return [
        _row(
            "Spark jobs per micro-batch (most of any scenario)",
            worst,
            f"{worst:.2f} (fewest {min(found.values()):.2f})",
            "1",
            worst <= 1.0,
            as_specified=True,
        )
    ]


def verdict(row: dict[str, Any]) -> str:
    if row["met"] is None:
        return "-"
    word = "met" if row["met"] else "MISSED"
    return word if row.get("as_specified") else f"({word.lower()}, smaller run)"


def _s(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f} s"


def _n(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}"
