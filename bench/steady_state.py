"""Steady state (and the soak, which is a long one): events produced at a fixed rate
into the running pipeline, latency measured from the Delta logs, outside the job.

The query first takes `warmup_s` of the same traffic and catches up on it (Spark's
first batches, the JVM warming up); then the measured run is produced with another
seed, so none of its events looks like a resend of a warm-up event (same seed, same
event ids: dedup would drop them). Lag counts as bounded when the query has committed
everything within the size's `drain_limit_s` after the traffic stops.
"""

from __future__ import annotations

import itertools
import statistics
import threading
import time
from typing import Any

import numpy as np

from bench import latency
from bench.job_view import files_per_table, job_latency, stream_batches
from bench.lake_watch import BatchCommit
from bench.observed import Mark, ObservedRun, observed_pipeline
from bench.stack import Bench, delivered_by_family, progress, short_id
from retail_lakehouse.settings import Settings


def steady_state(
    bench: Bench, rate: float, duration_s: float, slices: int = 6, source: str = "broker"
) -> dict[str, Any]:
    """`source` "broker": the producer through the local Apache Kafka, as `make demo`
    runs. "generated": the seeded producer inside Spark (KAFKA_SOURCE=generated)."""
    if source == "generated":
        from bench.steady_generated import steady_state_generated

        return steady_state_generated(bench, rate, duration_s, slices)
    from producer.topics import ensure_topics

    settings = bench.settings(f"steady-{int(rate)}-{int(duration_s)}-{short_id()}")
    ensure_topics(settings)  # the query subscribes before the first event is sent
    outcome: dict[str, Any] = {}
    with observed_pipeline(bench, settings) as run:
        warmup_started_ms = time.time() * 1000
        warm = bench.produce(settings, duration_s=bench.size.warmup_s, rate=rate)
        warmed = delivered_by_family(settings, warm.delivered_by_topic)
        run.wait_caught_up(warmed, timeout_s=600)
        start = run.mark()

        def produce() -> None:
            try:
                outcome["report"] = bench.produce(
                    settings,
                    duration_s=duration_s,
                    rate=rate,
                    seed=settings.producer_seed + 1,
                    write_reference=False,
                )
            except BaseException as exc:  # surfaced below, in this thread
                outcome["error"] = exc

        since_ms = time.time() * 1000
        thread = threading.Thread(target=produce, name="bench-producer", daemon=True)
        thread.start()
        while thread.is_alive():
            thread.join(timeout=10)
            run.check()
            if not thread.is_alive():
                break
            progress(
                "steady_state",
                rate=rate,
                elapsed_s=round(time.time() - since_ms / 1000),
                of_s=duration_s,
                batches=len(run.watch.poll().batches),
            )
        ended_ms = time.time() * 1000
        if "error" in outcome:
            raise RuntimeError(f"the producer failed: {outcome['error']}") from outcome["error"]
        report = outcome["report"]
        delivered = delivered_by_family(settings, report.delivered_by_topic)
        expected = {family: warmed[family] + n for family, n in delivered.items()}
        drained_ms = drained_at(run, expected, bench.size.drain_limit_s, duration_s)
        end = run.mark()
    return {
        "source": "broker",
        "rate": rate,
        "achieved_rate": round(report.delivered / report.elapsed_s, 1) if report.elapsed_s else 0.0,
        "duration_s": duration_s,
        "events": report.delivered,
        **measured(
            settings, run, (warmup_started_ms, since_ms, ended_ms), drained_ms, (start, end), slices
        ),
    }


def drained_at(
    run: ObservedRun, expected: dict[str, int], limit_s: float, duration_s: float
) -> int | None:
    """The ops commit that completed `expected` (epoch ms); None when it took longer
    than `limit_s` (lag not bounded at this rate). Then the run is still let finish,
    so the tables are complete for the outside view."""
    try:
        return run.wait_caught_up(expected, limit_s)
    except TimeoutError:
        run.wait_caught_up(expected, max(300.0, 3 * duration_s))
        return None


def measured(
    settings: Settings,
    run: ObservedRun,
    window_ms: tuple[float, float, float],
    drained_ms: int | None,
    marks: tuple[Mark, Mark],
    slices: int,
) -> dict[str, Any]:
    """A steady-state run's figures: `window_ms` is (warm-up start, measured start,
    traffic end) in epoch ms; `marks` bound the measured part's batches and jobs."""
    warmup_started_ms, since, ended = window_ms
    lake = settings.resolved_lake_root
    samples = latency.lake_samples(lake)
    return {
        "warmup": latency.outside_view(samples, warmup_started_ms, since),
        "outside": latency.outside_view(samples, since, ended),
        "job": job_latency(stream_batches(lake), since, ended + 600_000),
        "lag_bounded": drained_ms is not None,
        "drain_s": round(max(0.0, drained_ms - ended) / 1000, 1) if drained_ms else None,
        **run.figures(*marks),
        "batch_duration_series": batch_series(run.batches_between(*marks), since, ended, slices),
        "gold_latency_series": latency.series(
            samples["gold_sales_by_product_minute"], since, ended, slices
        ),
        "resources": run.resources,
        "files_per_table": files_per_table(lake),
    }


def batch_series(
    batches: list[BatchCommit], since_ms: float, until_ms: float, slices: int
) -> list[dict[str, Any]]:
    """Per slice of the run, by commit time: batches, their median duration (start to
    ops commit) and median records."""
    edges = np.linspace(since_ms, until_ms, slices + 1)
    series = []
    for low, high in itertools.pairwise(edges):
        chosen = [b for b in batches if low <= b.committed_ms < high]
        durations = [b.duration_ms for b in chosen]
        records = [sum(b.rows.values()) for b in chosen]
        series.append(
            {
                "t_s": round((low - since_ms) / 1000, 1),
                "batches": len(chosen),
                "median_ms": round(statistics.median(durations), 1) if durations else None,
                "median_records": statistics.median(records) if records else None,
            }
        )
    return series
