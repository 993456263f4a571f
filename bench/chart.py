"""The result file's chart: catch-up throughput, latency by rate, the soak over time
and where a batch's time goes, each against issue 16's targets where it has one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench import targets


def chart(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(14, 9))
    _catch_up(axes[0][0], result)
    _latency(axes[0][1], result)
    _over_time(axes[1][0], result)
    _phases(axes[1][1], result)
    demo = result.get("demo") or {}
    note = (
        f"; demo: peak {demo['peak_rss_gb']:.2f} GB, steady p95 "
        f"{(demo['summary']['steady_latency_p95_ms'] or 0) / 1000:.2f} s"
        if demo and not demo.get("skipped")
        else ""
    )
    fig.suptitle(f"retail lakehouse benchmark: size {result['meta']['size']}{note}")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def _nothing(ax: Any, title: str) -> None:
    ax.text(0.5, 0.5, "not run", ha="center", transform=ax.transAxes)
    ax.set(title=title)


def _catch_up(ax: Any, result: dict) -> None:
    title = "Catch-up throughput (launch to last commit)"
    entries = result["catch_up"]
    if not entries:
        return _nothing(ax, title)
    labels = ["bronze+silver", "full", "ceiling (no Spark)"]
    width = 0.8 / len(labels)
    for i, label in enumerate(labels):
        values = [
            (c["ceiling"] if label.startswith("ceiling") else c["modes"][label])["events_per_s"][
                "median"
            ]
            or 0
            for c in entries
        ]
        xs = [j + (i - 1) * width for j in range(len(entries))]
        ax.bar(xs, values, width=width, label=label)
    for mode, goal in targets.CATCH_UP_TARGETS.items():
        ax.axhline(goal, linestyle="--", linewidth=1, color="grey")
        ax.text(len(entries) - 0.5, goal, f"target {mode}", fontsize=7, va="bottom", ha="right")
    ax.set_xticks(range(len(entries)), [f"{c['events']:,} events" for c in entries])
    ax.set(yscale="log", ylabel="records/s", title=title)
    ax.legend(fontsize=8)
    return None


def _latency(ax: Any, result: dict) -> None:
    title = "Produce-to-visible latency (Delta logs)"
    runs = result["steady_state"]
    if not runs:
        return _nothing(ax, title)
    rates = [s["rate"] for s in runs]
    for layer, marker in (("bronze", "o"), ("silver", "s"), ("gold_sales_by_product_minute", "^")):
        name = layer.split("_")[0]
        p95 = [(s["outside"][layer]["p95_ms"] or 0) / 1000 for s in runs]
        p50 = [(s["outside"][layer]["p50_ms"] or 0) / 1000 for s in runs]
        ax.plot(rates, p95, marker=marker, label=f"{name} p95")
        ax.plot(rates, p50, marker=marker, linestyle="--", label=f"{name} p50")
    goal_rates, goals = zip(*targets.LATENCY_TARGETS_S, strict=True)
    ax.plot(goal_rates, goals, "rx", markersize=10, label="target gold p95")
    ax.set(xlabel="events/s", ylabel="seconds", title=title)
    ax.legend(fontsize=8)
    return None


def _over_time(ax: Any, result: dict) -> None:
    soak = result.get("soak") or {}
    runs = [soak] if soak and not soak.get("skipped") else result["steady_state"][-1:]
    title = "Over time (soak)" if runs and runs[0] is soak else "Over time"
    if not runs:
        return _nothing(ax, title)
    run = runs[0]
    pts = [(x["t_s"], x["p95_ms"] / 1000) for x in run["gold_latency_series"] if x["p95_ms"]]
    if pts:
        ax.plot(*zip(*pts, strict=True), marker="o", label=f"gold p95 @ {run['rate']:.0f}/s")
    pts = [
        (x["t_s"], x["median_ms"] / 1000) for x in run["batch_duration_series"] if x["median_ms"]
    ]
    if pts:
        ax.plot(*zip(*pts, strict=True), marker="s", label="batch time median")
    ax.axhline(2.0, linestyle="--", linewidth=1, color="grey")
    ax.set(xlabel="seconds into the measured run", ylabel="seconds", title=title)
    ax.legend(fontsize=8)
    return None


def _phases(ax: Any, result: dict) -> None:
    title = "Where a batch's time goes (median ms)"
    scenarios: list[tuple[str, dict]] = []
    if result["catch_up"]:
        scenarios.append(("catch-up full", result["catch_up"][-1]["modes"]["full"]["runs"][-1]))
    scenarios += [(f"{s['rate']:.0f}/s", s) for s in result["steady_state"]]
    soak = result.get("soak") or {}
    if soak and not soak.get("skipped"):
        scenarios.append(("soak", soak))
    if not scenarios:
        return _nothing(ax, title)
    parts = sorted({p for _, s in scenarios for p in s["phases_ms_median"]})
    bottoms = [0.0] * len(scenarios)
    for part in [*parts, "spark_overhead"]:
        values = [
            float(
                s["trigger_ms_median"].get("spark_overhead_ms", 0)
                if part == "spark_overhead"
                else s["phases_ms_median"].get(part, 0)
            )
            for _, s in scenarios
        ]
        ax.bar([name for name, _ in scenarios], values, bottom=bottoms, label=part)
        bottoms = [b + v for b, v in zip(bottoms, values, strict=True)]
    ax.set(ylabel="ms", title=title)
    ax.legend(fontsize=8)
    return None
