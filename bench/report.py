"""The result file's markdown table and PNG chart, and the short console summary."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def _fmt(value: Any, unit: str = "") -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        value = f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.2f}"
    elif isinstance(value, int):
        value = f"{value:,}"
    return f"{value}{unit}"


def _range(figure: dict) -> str:
    """median (min to max) over the runs."""
    if not figure or figure.get("median") is None:
        return "-"
    if figure.get("runs", 1) <= 1:
        return f"{_fmt(figure['median'])} (1 run)"
    return f"{_fmt(figure['median'])} ({_fmt(figure['min'])} to {_fmt(figure['max'])})"


def _load(meta: dict, key: str) -> str:
    values = meta.get(key)
    return " / ".join(f"{v:.1f}" for v in values) if values else "-"


def _seconds(ms: float | None) -> str:
    return "-" if ms is None else f"{ms / 1000:.2f} s"


def markdown(result: dict) -> str:
    meta = result["meta"]
    lines = [
        f"## Benchmark `{meta['size']}` ({meta['started_at']})",
        "",
        f"Command: `{meta['command']}` on {meta['cpu_count']} cores; git {meta['git_commit']}. "
        "Figures are the median (min to max) over the runs shown. Load average (1, 5, 15 min) "
        f"at start {_load(meta, 'load_average_at_start')}, "
        f"at end {_load(meta, 'load_average_at_end')}"
        " (a shared machine: other work ran beside the benchmark).",
        "",
        "### Producer (delivery confirmed, one process, default fault mix)",
        "",
        "| events | events/s |",
        "|---:|---:|",
    ]
    lines += [f"| {_fmt(p['events'])} | {_range(p['events_per_s'])} |" for p in result["producer"]]
    lines += [
        "",
        "### Catch-up on a backlog (all three families, events/s)",
        "",
        "Not run in this result." if not result["catch_up"] else "",
        "| backlog | bronze | bronze+silver | full pipeline | full, after 1st batch | "
        "bare consumer (ceiling) | full / ceiling |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for c in result["catch_up"]:
        modes = c["modes"]
        lines.append(
            f"| {_fmt(c['events'])} | {_range(modes['bronze']['events_per_s'])} | "
            f"{_range(modes['bronze+silver']['events_per_s'])} | "
            f"{_range(modes['full']['events_per_s'])} | "
            f"{_range(modes['full']['events_per_s_after_first_batch'])} | "
            f"{_range(c['ceiling']['events_per_s'])} | {_fmt(c['ratio_to_ceiling']['full'])} |"
        )
    if result["catch_up"]:
        last = result["catch_up"][-1]["modes"]["full"]["runs"][-1]
        top = list(last["phases_ms"].items())[:6]
        lines += [
            "",
            f"Where the time goes (full pipeline, largest backlog, last run, {last['batches']} "
            "batches, summed phases_ms): " + ", ".join(f"{k} {_seconds(v)}" for k, v in top),
        ]
    if result.get("ceiling"):
        lines += [
            "",
            "### Ceiling alone (bare confluent-kafka consumer -> delta-rs, no Spark)",
            "",
            "| backlog | events/s |",
            "|---:|---:|",
        ]
        lines += [
            f"| {_fmt(c['events'])} | {_range(c['events_per_s'])} |" for c in result["ceiling"]
        ]
    lines += [
        "",
        "### Steady state: produce time to visible, measured from the Delta logs",
        "",
        "| rate (achieved) | bronze p50 / p95 / p99 | silver p50 / p95 / p99 | "
        "gold.sales_by_product_minute p50 / p95 / p99 | job's own p50 / p95 (ops) | "
        "lag bounded | batch median |",
        "|---:|---:|---:|---:|---:|:---:|---:|",
    ]
    for s in result["steady_state"]:
        out = s["outside"]

        def trio(layer: str, out: dict = out) -> str:
            d = out[layer]
            return " / ".join(_seconds(d[k]) for k in ("p50_ms", "p95_ms", "p99_ms"))

        job = s["job"]["pooled_sample"]
        durations = sorted(s["batch_durations_ms"])
        median_batch = durations[len(durations) // 2] if durations else None
        lines.append(
            f"| {_fmt(s['rate'])} ({_fmt(s['achieved_rate'])}) | {trio('bronze')} | "
            f"{trio('silver')} | {trio('gold_sales_by_product_minute')} | "
            f"{_seconds(job['p50_ms'])} / {_seconds(job['p95_ms'])} | "
            f"{'yes' if s['lag_bounded'] else 'no'} | {_seconds(median_batch)} |"
        )
    lines += [
        "",
        f"Highest rate tried with bounded lag: {_fmt(result['highest_bounded_rate'])} events/s",
    ]
    soak = result.get("soak") or {}
    lines += ["", "### Soak"]
    if soak.get("skipped"):
        lines += ["", f"Skipped: {soak['skipped']}"]
    else:
        series = soak["gold_latency_series"]
        fed_by = (
            " from the generated source (no broker)" if soak.get("source") == "generated" else ""
        )
        lines += [
            "",
            f"{_fmt(soak['rate'])} events/s for {soak['duration_s']:.0f} s{fed_by}. "
            "Produce-to-gold p95 per slice: "
            + ", ".join(f"{x['t_s']:.0f}s {_seconds(x['p95_ms'])}" for x in series),
            "",
            "Batch duration median per slice: "
            + ", ".join(
                f"{x['t_s']:.0f}s {_seconds(x['median_ms'])}" for x in soak["batch_duration_series"]
            ),
            "",
            "Files per table after the soak: "
            + ", ".join(f"{k} {v}" for k, v in soak["files_per_table"].items()),
        ]
    res = result["resources"]
    lines += [
        "",
        "### Resources (peak over the run)",
        "",
        "| process | peak RSS | CPU seconds |",
        "|---|---:|---:|",
    ]
    lines += [
        f"| {k} | {_fmt(v)} MB | {_fmt(res['cpu_s'].get(k))} |"
        for k, v in res["peak_rss_mb"].items()
    ]
    return "\n".join(lines) + "\n"


def chart(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(16, 4.5))
    ax = axes[0]
    series = {
        "bronze": lambda c: c["modes"]["bronze"]["events_per_s"],
        "bronze+silver": lambda c: c["modes"]["bronze+silver"]["events_per_s"],
        "full": lambda c: c["modes"]["full"]["events_per_s"],
        "ceiling (no Spark)": lambda c: c["ceiling"]["events_per_s"],
    }
    sizes = [c["events"] for c in result["catch_up"]]
    if not sizes and result.get("ceiling"):  # a run without Spark: the ceiling alone
        sizes = [c["events"] for c in result["ceiling"]]
        series = {"ceiling (no Spark)": lambda c: c["events_per_s"]}
        rows = result["ceiling"]
    else:
        rows = result["catch_up"]
    for label, pick in series.items():
        figs = [pick(c) for c in rows]
        med = [f["median"] or 0 for f in figs]
        low = [(f["median"] or 0) - (f["min"] or 0) for f in figs]
        high = [(f["max"] or 0) - (f["median"] or 0) for f in figs]
        ax.errorbar(sizes, med, yerr=[low, high], marker="o", capsize=3, label=label)
    if sizes:
        ax.set(xscale="log", yscale="log")
        ax.legend(fontsize=8)
    else:
        ax.text(0.5, 0.5, "not run", ha="center", transform=ax.transAxes)
    ax.set(xlabel="backlog (events)", ylabel="events/s", title="Catch-up throughput")

    ax = axes[1]
    rates = [s["rate"] for s in result["steady_state"]]
    for layer, marker in (("bronze", "o"), ("silver", "s"), ("gold_sales_by_product_minute", "^")):
        p95 = [(s["outside"][layer]["p95_ms"] or 0) / 1000 for s in result["steady_state"]]
        p50 = [(s["outside"][layer]["p50_ms"] or 0) / 1000 for s in result["steady_state"]]
        ax.plot(rates, p95, marker=marker, label=f"{layer.split('_')[0]} p95")
        ax.plot(rates, p50, marker=marker, linestyle="--", label=f"{layer.split('_')[0]} p50")
    ax.set(xlabel="events/s", ylabel="seconds", title="Produce-to-visible latency")
    ax.legend(fontsize=8)

    ax = axes[2]
    runs = [result["soak"]] if not result["soak"].get("skipped") else result["steady_state"][-1:]
    for run in runs:
        pts = [(x["t_s"], x["p95_ms"] / 1000) for x in run["gold_latency_series"] if x["p95_ms"]]
        if pts:
            ax.plot(*zip(*pts, strict=True), marker="o", label=f"gold p95 @ {run['rate']:.0f}/s")
        pts = [
            (x["t_s"], x["median_ms"] / 1000)
            for x in run["batch_duration_series"]
            if x["median_ms"]
        ]
        if pts:
            ax.plot(*zip(*pts, strict=True), marker="s", label="batch duration median")
    ax.set(
        xlabel="seconds into the run",
        ylabel="seconds",
        title="Over time (soak)" if not result["soak"].get("skipped") else "Over time",
    )
    ax.legend(fontsize=8)
    fig.suptitle(f"retail lakehouse benchmark: size {result['meta']['size']}")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def summary(result: dict) -> str:
    lines = [f"benchmark {result['meta']['size']} done in {result['meta']['wall_s']:.0f} s"]
    if result["producer"]:
        p = result["producer"][-1]
        lines.append(f"  producer: {_range(p['events_per_s'])} events/s at {p['events']:,} events")
    for c in result["catch_up"]:
        lines.append(
            f"  catch-up {c['events']:,}: bronze {_range(c['modes']['bronze']['events_per_s'])}, "
            f"bronze+silver {_range(c['modes']['bronze+silver']['events_per_s'])}, "
            f"full {_range(c['modes']['full']['events_per_s'])} events/s; ceiling "
            f"{_range(c['ceiling']['events_per_s'])} "
            f"(full = {_fmt(c['ratio_to_ceiling']['full'])} of it)"
        )
    for c in result.get("ceiling") or []:
        lines.append(f"  ceiling {c['events']:,}: {_range(c['events_per_s'])} events/s (no Spark)")
    for s in result["steady_state"]:
        g = s["outside"]["gold_sales_by_product_minute"]
        lines.append(
            f"  {s['rate']:.0f} events/s: produce-to-gold p50 {_seconds(g['p50_ms'])}, "
            f"p95 {_seconds(g['p95_ms'])}, p99 {_seconds(g['p99_ms'])}; lag "
            f"{'bounded' if s['lag_bounded'] else 'NOT bounded'}"
        )
    return "\n".join(lines)
