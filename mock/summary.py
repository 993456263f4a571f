"""What landed and how fast: row counts of every table, late rows, latency."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from retail_lakehouse import tables
from retail_lakehouse.settings import Settings
from retail_lakehouse.tables import TableSpec


@dataclass
class LakeSummary:
    table_rows: dict[str, int | None] = field(default_factory=dict)
    late_rows: dict[str, int] = field(default_factory=dict)
    quarantine_reasons: dict[str, int] = field(default_factory=dict)
    duplicates_dropped: int = 0
    batches: int = 0
    latency_p50_ms: float | None = None
    latency_p95_ms: float | None = None
    latency_max_ms: float | None = None
    latency_samples: int = 0
    # the same with each query's first data batch left out: that one also carries
    # Spark's start-up (Python workers, code generation) and the backlog it built
    steady_latency_p50_ms: float | None = None
    steady_latency_p95_ms: float | None = None
    steady_latency_samples: int = 0
    warmup_latency_max_ms: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def summarize_lake(settings: Settings, after_batch: int | None = None) -> LakeSummary:
    """Row counts of every table, and the latency of the batches after `after_batch`
    (the demo's history batches are a backlog, not live traffic).

    Read through delta-rs's DataFusion engine: pyarrow's dataset scanner can abort
    the interpreter at exit (see DeltaRsWriter.read_arrow)."""
    from spark_streaming.batch_metrics import percentile, split_warmup
    from spark_streaming.delta_rs_writer import DeltaRsWriter

    lake = DeltaRsWriter(settings)
    summary = LakeSummary()
    for spec in tables.ALL_TABLES:
        keys = lake.read_arrow(spec, [_counted_column(spec)])
        summary.table_rows[spec.qualified_name] = None if keys is None else keys.num_rows
        if keys is not None and spec.layer == "silver" and spec is not tables.QUARANTINE:
            late = lake.read_arrow(spec, ["event_id"], "is_late")
            if late is not None:
                summary.late_rows[spec.qualified_name] = len(set(late["event_id"].to_pylist()))
    quarantine = lake.read_arrow(tables.QUARANTINE, ["reason"])
    if quarantine is not None:
        for reason in quarantine["reason"].to_pylist():
            summary.quarantine_reasons[reason] = summary.quarantine_reasons.get(reason, 0) + 1
    batches = lake.read_arrow(
        tables.STREAM_BATCHES,
        ["query_name", "batch_id", "input_rows", "duplicate_events", "latency_sample_ms"],
    )
    if batches is not None:
        every = batches.to_pylist()
        summary.batches = len(every)
        summary.duplicates_dropped = sum(r["duplicate_events"] for r in every)
        rows = [r for r in every if after_batch is None or r["batch_id"] > after_batch]
        samples = _samples(rows)
        summary.latency_samples = len(samples)
        summary.latency_p50_ms = percentile(samples, 50)
        summary.latency_p95_ms = percentile(samples, 95)
        summary.latency_max_ms = float(max(samples)) if samples else None
        warmup, steady = split_warmup(rows)
        steady_samples, warmup_samples = _samples(steady), _samples(warmup)
        summary.steady_latency_samples = len(steady_samples)
        summary.steady_latency_p50_ms = percentile(steady_samples, 50)
        summary.steady_latency_p95_ms = percentile(steady_samples, 95)
        summary.warmup_latency_max_ms = float(max(warmup_samples)) if warmup_samples else None
    return summary


def _samples(batches: list[dict]) -> list[float]:
    """Every latency sample of these ops.stream_batches rows."""
    return [v for r in batches for v in (r["latency_sample_ms"] or [])]


def _counted_column(spec: TableSpec) -> str:
    """One narrow column is enough to count rows; bronze and quarantine have no key."""
    return spec.keys[0] if spec.keys else "offset"


def render(
    produced: dict[str, Any] | None, lake_summary: LakeSummary, extra: dict[str, Any]
) -> str:
    lines = ["", "=== retail lakehouse summary ==="]
    if produced:
        lines.append(
            f"events produced: {produced.get('sent_total')} "
            f"(delivered {produced.get('delivered')}, failed {produced.get('failed')}) "
            f"at {produced.get('events_per_s', 0):.0f} events/s"
        )
        lines.append(f"faults injected: {json.dumps(produced.get('faults', {}), sort_keys=True)}")
    for key, value in extra.items():
        lines.append(f"{key}: {value}")
    lines.append("")
    lines.append(f"{'table':45} {'rows':>10}")
    for name, rows in lake_summary.table_rows.items():
        lines.append(f"{name:45} {('-' if rows is None else rows):>10}")
    lines.append("")
    lines.append(
        f"quarantined by reason: {json.dumps(lake_summary.quarantine_reasons, sort_keys=True)}"
    )
    lines.append(f"duplicates dropped: {lake_summary.duplicates_dropped}")
    lines.append(
        f"late events (kept in silver, left out of gold windows): {lake_summary.late_rows}"
    )
    lines.append(
        "produce-to-gold latency: "
        f"p50 {_ms(lake_summary.latency_p50_ms)}, p95 {_ms(lake_summary.latency_p95_ms)}, "
        f"max {_ms(lake_summary.latency_max_ms)} over {lake_summary.latency_samples} "
        f"sampled events in {lake_summary.batches} micro-batches"
    )
    lines.append(
        "  steady state (each query's first data batch left out): "
        f"p50 {_ms(lake_summary.steady_latency_p50_ms)}, "
        f"p95 {_ms(lake_summary.steady_latency_p95_ms)} "
        f"over {lake_summary.steady_latency_samples} sampled events; "
        f"warm-up batches max {_ms(lake_summary.warmup_latency_max_ms)}"
    )
    return "\n".join(lines)


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value / 1000:.2f} s"


def write_outputs(directory: Path, payload: dict[str, Any], text: str) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "demo_summary.json").write_text(json.dumps(payload, indent=2, default=str))
    (directory / "demo_summary.txt").write_text(text + "\n")


def warehouse_lines(report: Any) -> dict[str, Any]:
    """Summary lines for the warehouse half (a loaders.warehouse_pipeline.PipelineReport)."""
    by_table = report.rows_loaded_by_table
    dbt = report.steps["dbt_build"]
    export = report.steps["export"]
    loaded = "".join(f"\n  {name:43} {rows:>10}" for name, rows in by_table.items())
    return {
        "rows loaded into the warehouse (inserted + updated)": f"{sum(by_table.values())}{loaded}",
        "dbt build time": f"{dbt['elapsed_s']:.1f} s ({_dbt_counts(dbt.get('report'))})",
        "aggregates_daily.csv": (
            f"{export['rows']} days, {export['first_date']} to {export['last_date']} "
            f"({export['path']})"
        ),
        "fct_daily_kpis freshness after the full rebuild": report.steps["kpi_freshness"][
            "description"
        ],
        "warehouse step times": ", ".join(f"{k} {v:.1f} s" for k, v in report.seconds.items()),
    }


def live_lines(followed: dict[str, Any]) -> dict[str, Any]:
    """Summary lines for `lakehouse load --follow`'s report (loaders.follow.FollowReport)."""
    fresh = followed.get("freshness") or {}
    late = followed.get("late_sales_daily_kpis_freshness") or {}
    if fresh.get("p95_s") is None:
        measured = "no sale measured"
    else:
        verdict = "meets" if fresh.get("meets_target") else "MISSES"
        measured = (
            f"p50 {fresh['p50_s']:.1f} s, p95 {fresh['p95_s']:.1f} s, max {fresh['max_s']:.1f} s "
            f"over {fresh['sales']} sales ({verdict} the {fresh['target_s']:.0f} s p95 target)"
        )
    if late.get("p95_s") is not None:
        measured += (
            f"; late sales (daily KPIs only): p95 {late['p95_s']:.1f} s over {late['sales']}"
        )
    return {
        "live marts freshness (produce -> counted in fct_daily_kpis and "
        "fct_product_sales_minute, lakehouse load --follow)": measured,
        "live loader": (
            f"{followed.get('cycles', 0)} cycles, {followed.get('refreshes', 0)} mart refreshes "
            f"(load p50 {followed.get('load_s_p50') or 0:.1f} s, refresh p50 "
            f"{followed.get('refresh_s_p50') or 0:.1f} s), "
            f"{followed.get('sales_not_counted_within_10_min', 0)} sales not counted in 10 min"
        ),
    }


def _dbt_counts(report: Any) -> str:
    if not isinstance(report, dict):
        return "no details"
    return (
        f"{report.get('models_passed', 0)} models, {report.get('tests_passed', 0)} tests, "
        f"{report.get('unit_tests_passed', 0)} unit tests passed"
    )
