"""The pipeline's one streaming query, started for a scenario and watched from every
side: ops commits in the Delta log (outside the job), Spark jobs of the query, the
batch and trigger log lines, and the resources of the process tree."""

from __future__ import annotations

import statistics
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from bench import job_view
from bench.job_view import BatchLogCapture
from bench.lake_watch import BatchCommit, OpsWatch, wait_caught_up
from bench.latency import percentiles
from bench.resources import ResourceSampler
from bench.spark_jobs import SparkJobs, per_batch
from bench.stack import Bench, delivered_by_family, progress, short_id
from retail_lakehouse.settings import Settings


@dataclass(frozen=True)
class Mark:
    """A moment of the run, so figures can be taken between two of them."""

    at_ms: float
    batches: int  # ops commits seen
    lines: int  # batch_committed lines
    triggers: int  # query_progress lines


@dataclass
class ObservedRun:
    running: Any  # spark_streaming.streams.RunningPipeline
    watch: OpsWatch
    jobs: SparkJobs
    capture: BatchLogCapture
    launched_ms: float
    resources: dict[str, Any] = field(default_factory=dict)

    def check(self) -> None:
        """Raise when the query stopped (its error, if it failed)."""
        query = self.running.query
        if not query.isActive:
            raise RuntimeError(f"the streaming query stopped: {query.exception()}")

    def mark(self, settle_s: float = 10.0) -> Mark:
        self.watch.poll()
        # a batch logs its lines just after its ops commit (and its maintenance): wait
        # for them, so the batches between two marks and their lines are the same ones
        newest = str(self.watch.batches[-1].batch_id) if self.watch.batches else None
        deadline = time.monotonic() + settle_s
        while newest and newest not in self._logged_batch_ids() and time.monotonic() < deadline:
            time.sleep(0.05)
        return Mark(
            at_ms=time.time() * 1000,
            batches=len(self.watch.batches),
            lines=len(self.capture.batches),
            triggers=len(self.capture.triggers),
        )

    def _logged_batch_ids(self) -> set[str]:
        return {str(line.get("batch_id")) for line in list(self.capture.batches)}

    def wait_caught_up(self, expected: dict[str, int], timeout_s: float) -> int:
        """Until the ops rows account for `expected`; the last ops commit (epoch ms)."""
        return wait_caught_up(
            self.watch,
            expected,
            timeout_s,
            check=self.check,
            progress=lambda counts: progress("catching_up", **counts),
        )

    def batches_between(self, start: Mark, end: Mark) -> list[BatchCommit]:
        return self.watch.batches[start.batches : end.batches]

    def figures(self, start: Mark, end: Mark) -> dict[str, Any]:
        """Batches, batch time and where it went between two marks, and Spark jobs per
        batch over the query's whole life (taken once it stopped: a window's edge would
        cut a batch whose job ran before it and whose commit came after)."""
        batches = self.batches_between(start, end)
        logged = job_view.per_batch(self.capture.batches[start.lines : end.lines])
        committed = len(self.watch.poll().batches)
        # micro-batches Spark ran; one without a record (none of a family's) has no ops row
        ran = _batches_run(self.running.query) or committed
        jobs = self.jobs.count()
        return {
            "batches": len(batches),
            "query_batches": ran,
            "query_batches_without_ops_rows": ran - committed,
            "spark_jobs": jobs,
            "spark_jobs_per_batch": per_batch(jobs, ran),
            # every job of the application, whatever its group (a cross-check)
            "app_jobs_per_batch": per_batch(self.jobs.app_jobs_since_start(), ran),
            "records_per_batch_median": _median([sum(b.rows.values()) for b in batches]),
            # from foreachBatch's start to the batch's ops commit (the Delta log)
            "batch_ms": percentiles([b.duration_ms for b in batches]),
            "phases_ms_median": job_view.phase_medians(logged),
            "phases_ms_total": job_view.phase_totals(logged),
            # up to the query's stop: a trigger's progress event comes after its batch
            "trigger_ms_median": job_view.trigger_medians(self.capture.triggers[start.triggers :]),
        }


@contextmanager
def observed_pipeline(
    bench: Bench, settings: Settings, writer: Any = None
) -> Iterator[ObservedRun]:
    """Start the pipeline (all three families) on `settings`; stop it on the way out."""
    from spark_streaming.streams import start_pipeline, stop_pipeline

    spark = bench.spark
    sampler = ResourceSampler().start()
    with BatchLogCapture() as capture:
        launched_ms = time.time() * 1000
        try:
            running = start_pipeline(spark, settings, writer=writer)
        except BaseException:
            sampler.stop()
            raise
        jobs = SparkJobs(spark, running.query).start()
        run = ObservedRun(
            running, OpsWatch(settings.resolved_lake_root), jobs, capture, launched_ms
        )
        try:
            yield run
        finally:
            try:
                stop_pipeline(running)
                _await_progress_lines(run)
            finally:
                jobs.stop()
                run.resources = sampler.stop()


def _batches_run(query: Any) -> int | None:
    """How many micro-batches the query ran: its checkpoint is new, so batch ids count
    from 0; a progress entry with an addBatch time is a batch that ran."""
    ran = [p["batchId"] for p in query.recentProgress if "addBatch" in (p.get("durationMs") or {})]
    return max(ran) + 1 if ran else None


def _await_progress_lines(run: ObservedRun, limit_s: float = 5.0) -> None:
    """Spark's progress events reach the listener asynchronously: the last batch's may
    come after the query stopped. Wait (briefly) for one per batch with data."""
    deadline = time.monotonic() + limit_s
    while len(run.capture.triggers) < len(run.watch.poll().batches):
        if time.monotonic() > deadline:
            return
        time.sleep(0.1)


def warm_up(bench: Bench, events: int = 2_000) -> float:
    """One pipeline run over a small backlog before anything is measured, so the first
    measured scenario does not alone pay the session's first batch (class loading,
    the first plans); seconds it took."""
    started = time.monotonic()
    settings = bench.settings(f"warm-up-{short_id()}")
    report = bench.produce(settings, events=events, rate=0.0)
    with observed_pipeline(bench, settings) as run:
        run.wait_caught_up(delivered_by_family(settings, report.delivered_by_topic), 600.0)
    progress("warm_up", events=events, seconds=round(time.monotonic() - started, 1))
    return round(time.monotonic() - started, 1)


def _median(values: list[int]) -> float | None:
    return round(statistics.median(values), 1) if values else None
