"""Catch-up from a backlog: the three topics filled first, then read from the earliest
offset by the pipeline, in two modes on the same backlog, and by the bare consumer
(the machine's ceiling, `bench.ceiling`):

* "bronze+silver": every table but gold (the gold merges are dropped by `LayerFilter`;
  their contributions are still computed in the driver, only not committed);
* "full": every table, as the job runs.

The clock runs from `start_pipeline` to the ops commit of the batch that completes the
backlog, read from the Delta log. With two backlog sizes the marginal rate between
them is reported too: the query's start-up and first batch cancel out.
"""

from __future__ import annotations

import itertools
import statistics
from typing import Any

from bench.ceiling import bare_consumer_to_delta
from bench.observed import observed_pipeline
from bench.stack import (
    Bench,
    copy_reference_tables,
    delivered_by_family,
    progress,
    short_id,
    stat,
    topic_partitions,
)
from retail_lakehouse import tables
from retail_lakehouse.settings import Settings

# which layers each mode leaves uncommitted
MODES: dict[str, tuple[str, ...]] = {"bronze+silver": ("gold",), "full": ()}


class LayerFilter:
    """A LakeWriter that commits every table except those of the skipped layers.
    A skipped write returns False (nothing committed) and costs nothing."""

    _WRITES = ("append", "merge")

    def __init__(self, inner: Any, skip_layers: tuple[str, ...]) -> None:
        self._inner = inner
        self._skip = skip_layers

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._inner, name)
        if name not in self._WRITES or not self._skip:
            return attr

        def write(*args: Any, **kwargs: Any) -> Any:
            spec = args[0] if args else kwargs.get("spec")
            if isinstance(spec, tables.TableSpec) and spec.layer in self._skip:
                return False
            return attr(*args, **kwargs)

        return write


def catch_up(bench: Bench, events: int) -> dict[str, Any]:
    """Per repeat: one backlog, read by each mode into its own lake, then by the bare
    consumer, all from the same topics."""
    per_mode: dict[str, list[dict]] = {mode: [] for mode in MODES}
    ceilings: list[dict] = []
    for repeat in range(bench.size.spark_repeats):
        topics = f"backlog-{events}-{repeat}-{short_id()}"
        producing, report = produce_backlog(bench, topics, events)
        # the modes take turns going first: each run is faster than the one before it
        # for the first minutes of a session, so a fixed order flattered the second mode
        for mode in list(MODES) if repeat % 2 == 0 else list(MODES)[::-1]:
            per_mode[mode].append(drain_backlog(bench, topics, producing, report, mode))
            progress(
                "catch_up",
                events=events,
                repeat=repeat,
                mode=mode,
                events_per_s=per_mode[mode][-1]["events_per_s"],
            )
        ceiling = bare_consumer_to_delta(
            producing.kafka_client_config(),
            topic_partitions(producing),
            report.delivered,
            str(bench.work_dir / topics / "ceiling"),
        )
        ceilings.append(ceiling)
        progress("ceiling", events=events, repeat=repeat, events_per_s=ceiling["events_per_s"])
    return summarize(events, per_mode, ceilings)


def produce_backlog(bench: Bench, topics: str, events: int) -> tuple[Settings, Any]:
    """`events` produced at full speed into the topics `topics` names."""
    producing = bench.settings(topics)
    return producing, bench.produce(producing, events=events, rate=0.0)


def drain_backlog(
    bench: Bench, topics: str, producing: Settings, report: Any, mode: str
) -> dict[str, Any]:
    """The backlog `produce_backlog` wrote, drained in `mode` into a lake of its own."""
    cap = bench.size.max_offsets_per_trigger
    run = bench.settings(
        f"{topics}-{mode}",
        topics=topics,
        **({"max_offsets_per_trigger": cap} if cap else {}),
    )
    copy_reference_tables(producing, run)
    delivered = delivered_by_family(producing, report.delivered_by_topic)
    return drain(bench, run, delivered, MODES[mode])


def drain(
    bench: Bench, settings: Settings, delivered: dict[str, int], skip: tuple[str, ...]
) -> dict[str, Any]:
    """The pipeline from launch until it has committed every delivered record."""
    from spark_streaming.lake_writer import make_lake_writer

    total = sum(delivered.values())
    writer = LayerFilter(make_lake_writer(bench.spark, settings), skip)
    with observed_pipeline(bench, settings, writer) as run:
        start = run.mark()
        last_ms = run.wait_caught_up(delivered, timeout_s=max(600.0, total / 100))
        end = run.mark()
    batches = run.batches_between(start, end)
    wall_s = (last_ms - run.launched_ms) / 1000
    first = batches[0] if batches else None
    first_rows = sum(first.rows.values()) if first else 0
    after_first_s = (last_ms - first.committed_ms) / 1000 if first else 0.0
    return {
        "events": total,
        "wall_s": round(wall_s, 2),
        "events_per_s": round(total / wall_s, 1) if wall_s > 0 else None,
        "first_batch": {
            "records": first_rows,
            "committed_after_launch_s": (
                round((first.committed_ms - run.launched_ms) / 1000, 2) if first else None
            ),
        },
        "events_per_s_after_first_batch": (
            round((total - first_rows) / after_first_s, 1) if after_first_s > 0 else None
        ),
        **run.figures(start, end),
        "resources": run.resources,
    }


def summarize(events: int, per_mode: dict[str, list[dict]], ceilings: list[dict]) -> dict:
    out: dict[str, Any] = {"events": events, "modes": {}}
    for mode, runs in per_mode.items():
        out["modes"][mode] = {
            "events_per_s": stat([r["events_per_s"] for r in runs if r["events_per_s"]]),
            "events_per_s_after_first_batch": stat(
                [
                    r["events_per_s_after_first_batch"]
                    for r in runs
                    if r["events_per_s_after_first_batch"]
                ]
            ),
            "wall_s": stat([r["wall_s"] for r in runs]),
            "spark_jobs_per_batch": stat(
                [r["spark_jobs_per_batch"] for r in runs if r["spark_jobs_per_batch"] is not None]
            ),
            "records": runs[0]["events"] if runs else None,
            "runs": runs,
        }
    ceiling_rates = [c["events_per_s"] for c in ceilings]
    out["ceiling"] = {"events_per_s": stat(ceiling_rates), "runs": ceilings}
    best = statistics.median(ceiling_rates) if ceiling_rates else 0
    out["ratio_to_ceiling"] = {
        mode: round(v["events_per_s"]["median"] / best, 4)
        if best and v["events_per_s"]["median"]
        else None
        for mode, v in out["modes"].items()
    }
    return out


def with_marginal_rates(entries: list[dict]) -> list[dict]:
    """Each backlog's marginal rate over the next smaller one, per mode: the extra
    records over the extra wall time (median walls), so the start-up cancels out."""
    for smaller, larger in itertools.pairwise(entries):
        for mode, figures in larger["modes"].items():
            low = smaller["modes"][mode]
            extra_s = _median_wall(figures) - _median_wall(low)
            extra_records = (figures["records"] or 0) - (low["records"] or 0)
            figures["marginal_events_per_s"] = (
                round(extra_records / extra_s, 1) if extra_s > 0 and extra_records > 0 else None
            )
            figures["marginal_over_backlog"] = smaller["events"]
    return entries


def _median_wall(figures: dict) -> float:
    """The runs' own walls, not the report's rounded median: a tenth of a second is 4%
    of a 1,000,000-record catch-up's marginal rate."""
    walls = [r["wall_s"] for r in figures["runs"]]
    return statistics.median(walls) if walls else 0.0
