"""The result file's markdown (issue 16's targets first, then the details) and the
short console summary. The chart is `bench.chart`."""

from __future__ import annotations

from typing import Any

from bench import targets


def _fmt(value: Any, unit: str = "") -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        value = f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.2f}"
    elif isinstance(value, int):
        value = f"{value:,}"
    return f"{value}{unit}"


def _range(figure: dict | None) -> str:
    """median (min to max) over the runs."""
    if not figure or figure.get("median") is None:
        return "-"
    if figure.get("runs", 1) <= 1:
        return f"{_fmt(figure['median'])} (1 run)"
    return f"{_fmt(figure['median'])} ({_fmt(figure['min'])} to {_fmt(figure['max'])})"


def _s(ms: float | None) -> str:
    return "-" if ms is None else f"{ms / 1000:.2f} s"


def _trio(d: dict) -> str:
    return " / ".join(_s(d[k]) for k in ("p50_ms", "p95_ms", "p99_ms"))


def _at_peak(resources: dict) -> str:
    """What each kind of process held at the peak, and when (results before the sampler
    recorded it have neither)."""
    if "at_peak_rss_mb" not in resources:
        return "breakdown not recorded"
    return (
        f"{resources['peak_at_s']:.0f} s into the run, held by "
        f"{_pairs(resources['at_peak_rss_mb'], ' MB')}"
    )


def _pairs(d: dict, unit: str = " ms") -> str:
    return ", ".join(f"{k.removesuffix('_ms')} {_fmt(v)}{unit}" for k, v in d.items()) or "-"


def target_rows(result: dict) -> list[dict]:
    return targets.evaluate(result)


def markdown(result: dict) -> str:
    meta = result["meta"]
    load = " / ".join(f"{v:.1f}" for v in meta.get("load_average_at_start") or [])
    lines = [
        f"## Benchmark `{meta['size']}` ({meta['started_at']})",
        "",
        f"Command: `{meta['command']}` on {meta['cpu_count']} cores; git {meta['git_commit']}; "
        f"load average at start {load or '-'} (1, 5, 15 min). Figures are the median "
        "(min to max) over the runs shown. All three families, through the local Apache "
        "Kafka broker; latency from the Delta logs, outside the job.",
        "",
    ]
    if _profile_only(result):
        return "\n".join(lines + _profile(result)[1:]) + "\n"
    lines += [
        "### Targets (issue 16)",
        "",
        "| target | measured | goal | verdict |",
        "|---|---|---|---|",
    ]
    lines += [
        f"| {r['target']} | {r['display']} | {r['goal']} | {targets.verdict(r)} |"
        for r in target_rows(result)
    ]
    lines += ["", "A verdict in parentheses comes from a run smaller than the issue's."]
    lines += _catch_up(result) + _steady(result) + _soak(result) + _demo(result)
    lines += _producer(result) + _resources(result) + _profile(result)
    return "\n".join(lines) + "\n"


def _catch_up(result: dict) -> list[str]:
    lines = ["", "### Catch-up on a backlog (records/s, faults included)", ""]
    if not result["catch_up"] and not result.get("ceiling"):
        return [*lines, "Not run in this result."]
    if result["catch_up"]:
        lines += [
            "| backlog | mode | launch to last commit | after the 1st batch | marginal | "
            "wall s | batches | Spark jobs/batch | batch p50 |",
            "|---:|---|---:|---:|---:|---:|---:|---:|---:|",
        ]
    for c in result["catch_up"]:
        for mode, f in c["modes"].items():
            run = f["runs"][-1]
            lines.append(
                f"| {_fmt(c['events'])} | {mode} | {_range(f['events_per_s'])} | "
                f"{_range(f['events_per_s_after_first_batch'])} | "
                f"{_fmt(f.get('marginal_events_per_s'))} | {_range(f['wall_s'])} | "
                f"{run['batches']} | {_range(f['spark_jobs_per_batch'])} | "
                f"{_s(run['batch_ms']['p50_ms'])} |"
            )
        lines.append(
            f"| {_fmt(c['events'])} | bare consumer (ceiling) | "
            f"{_range(c['ceiling']['events_per_s'])} | | | | | | |"
        )
    if result["catch_up"]:
        last = result["catch_up"][-1]["modes"]["full"]["runs"][-1]
        lines += [
            "",
            "Full mode, largest backlog, last run: per batch (median) "
            f"{_pairs(last['phases_ms_median'])}; Spark's trigger (median) "
            f"{_pairs(last['trigger_ms_median'])}.",
        ]
    lines += [
        f"Ceiling alone (bare consumer, no Spark), {_fmt(c['events'])} records: "
        f"{_range(c['events_per_s'])} records/s"
        for c in result.get("ceiling") or []
    ]
    return lines


def _steady(result: dict) -> list[str]:
    lines = [
        "",
        "### Steady state: produce time to visible (Delta logs)",
        "",
        "| rate (achieved) | bronze p50 / p95 / p99 | silver p50 / p95 / p99 | "
        "gold.sales_by_product_minute p50 / p95 / p99 | job's own p50 / p95 | lag bounded "
        "(drain) | batches | Spark jobs/batch | batch p50 / p95 |",
        "|---:|---:|---:|---:|---:|:---:|---:|---:|---:|",
    ]
    for s in result["steady_state"]:
        out, job = s["outside"], s["job"]["pooled_sample"]
        lines.append(
            f"| {_fmt(s['rate'])} ({_fmt(s['achieved_rate'])}) | {_trio(out['bronze'])} | "
            f"{_trio(out['silver'])} | {_trio(out['gold_sales_by_product_minute'])} | "
            f"{_s(job['p50_ms'])} / {_s(job['p95_ms'])} | "
            f"{'yes' if s['lag_bounded'] else 'NO'} ({_fmt(s['drain_s'])} s) | {s['batches']} | "
            f"{_fmt(s['spark_jobs_per_batch'])} | {_s(s['batch_ms']['p50_ms'])} / "
            f"{_s(s['batch_ms']['p95_ms'])} |"
        )
    for s in result["steady_state"]:
        lines.append(
            f"\nAt {_fmt(s['rate'])}/s, per batch (median): {_pairs(s['phases_ms_median'])}; "
            f"Spark's trigger (median): {_pairs(s['trigger_ms_median'])}; "
            f"{_fmt(s['records_per_batch_median'])} records per batch."
        )
    return lines


def _soak(result: dict) -> list[str]:
    soak = result.get("soak") or {}
    lines = ["", "### Soak"]
    if soak.get("skipped"):
        return [*lines, "", f"Skipped: {soak['skipped']}"]
    fed_by = "the generated source (no broker)" if soak["source"] == "generated" else "the broker"
    gold = soak["outside"]["gold_sales_by_product_minute"]
    lines += [
        "",
        f"{_fmt(soak['rate'])} events/s for {soak['duration_s']:.0f} s, fed by {fed_by}; "
        f"produce-to-gold p50 / p95 / p99 over the run {_trio(gold)}; "
        f"{soak['batches']} batches, {_fmt(soak['spark_jobs_per_batch'])} Spark jobs each.",
        "",
        "| slice from (s) | gold p95 | sales | batch median | batches | records/batch |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for g, b in zip(soak["gold_latency_series"], soak["batch_duration_series"], strict=False):
        lines.append(
            f"| {g['t_s']:.0f} | {_s(g['p95_ms'])} | {_fmt(g['n'])} | {_s(b['median_ms'])} | "
            f"{b['batches']} | {_fmt(b['median_records'])} |"
        )
    lines += ["", f"Files per table after the soak: {_pairs(soak['files_per_table'], '')}"]
    return lines


def _demo(result: dict) -> list[str]:
    demo = result.get("demo") or {}
    lines = ["", "### `make demo`"]
    if demo.get("skipped"):
        return [*lines, "", f"Skipped: {demo['skipped']}"]
    summary = demo["summary"]
    return [
        *lines,
        "",
        f"`{demo['command']}` in {demo['wall_s']:.0f} s: peak memory of the process tree "
        f"{demo['peak_rss_gb']:.2f} GB, {_at_peak(demo['resources'])} (each kind's own "
        f"peak, MB: {_pairs(demo['resources']['peak_rss_mb'], '')}). Its summary: "
        f"steady-state p50 / p95 "
        f"{_s(summary['steady_latency_p50_ms'])} / {_s(summary['steady_latency_p95_ms'])} over "
        f"{_fmt(summary['steady_latency_samples'])} samples; every batch "
        f"{_s(summary['latency_p50_ms'])} / {_s(summary['latency_p95_ms'])}. From the Delta "
        f"logs, the whole run's gold p50 / p95 / p99: "
        f"{_trio(demo['outside']['gold_sales_by_product_minute'])}.",
    ]


def _producer(result: dict) -> list[str]:
    lines = ["", "### Producer (delivery confirmed, one process, demo fault mix)", ""]
    if not result["producer"]:
        return [*lines, "Not run in this result."]
    lines += ["| events | events/s |", "|---:|---:|"]
    return lines + [
        f"| {_fmt(p['events'])} | {_range(p['events_per_s'])} |" for p in result["producer"]
    ]


def _resources(result: dict) -> list[str]:
    res = result["resources"]
    lines = [
        "",
        "### Resources of the bench's own stack (peak over the scenarios)",
        "",
        "| process | peak RSS | CPU seconds |",
        "|---|---:|---:|",
    ]
    return lines + [
        f"| {k} | {_fmt(v)} MB | {_fmt(res['cpu_s'].get(k))} |"
        for k, v in res["peak_rss_mb"].items()
    ]


def _profile(result: dict) -> list[str]:
    p = result.get("profile") or {}
    if not p or p.get("skipped"):
        return []
    lines = [
        "",
        f"### Profile: a {_fmt(p['events'])}-record catch-up, sampled",
        "",
        f"{p['wall_s']} s with the samplers, {p['batches']} batches; per batch (median) "
        f"{_pairs(p['phases_ms_median'])}.",
    ]
    ex, dr = p["executors"], p["driver"]
    if not ex.get("skipped"):
        lines += ["", f"Spark's executor task threads, {_fmt(ex['samples'])} JFR samples:", ""]
        lines += _share_table("where (first library from the leaf up)", ex["groups"])
        lines += ["", *_share_table("hottest leaf method", ex["top_leaf_methods"])]
    if not dr.get("skipped"):
        lines += [
            "",
            f"The driver's batch thread, {_fmt(dr['batch_thread_samples'])} active py-spy "
            f"samples (the commit threads: {_fmt(dr['commit_thread_samples'])}):",
            "",
        ]
        lines += _share_table("function (inclusive)", dr["inclusive"])
    return lines


def _profile_only(result: dict) -> bool:
    return result["meta"].get("sections") == ["profile"]


def _share_table(what: str, shares: list[list]) -> list[str]:
    return [f"| {what} | share |", "|---|---:|"] + [
        f"| `{name}` | {share:.0%} |" for name, share in shares
    ]


def summary(result: dict) -> str:
    lines = [f"benchmark {result['meta']['size']} done in {result['meta']['wall_s']:.0f} s"]
    for row in target_rows(result):
        lines.append(
            f"  {row['target']}: {row['display']} (goal {row['goal']}) {targets.verdict(row)}"
        )
    for c in result["catch_up"]:
        lines.append(
            f"  catch-up {c['events']:,}: ceiling {_range(c['ceiling']['events_per_s'])}/s "
            f"(full = {_fmt(c['ratio_to_ceiling']['full'])} of it)"
        )
    for c in result.get("ceiling") or []:
        lines.append(f"  ceiling {c['events']:,}: {_range(c['events_per_s'])} events/s (no Spark)")
    if result["producer"]:
        p = result["producer"][-1]
        lines.append(f"  producer: {_range(p['events_per_s'])} events/s at {p['events']:,} events")
    return "\n".join(lines)
