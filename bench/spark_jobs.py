"""Spark jobs per micro-batch, counted from Spark's status tracker.

Structured Streaming runs every job of a query in the job group named after the
query's runId (also foreachBatch's, whose calls come back on the stream's thread), and
the status tracker keeps that grouping with the UI disabled. The tracker retains only
the last `spark.ui.retainedJobs` (1,000) jobs, so a thread polls it and keeps every id
it has seen: a soak of thousands of batches is counted whole.
"""

from __future__ import annotations

import threading
from typing import Any


class SparkJobs:
    """`start()`, then `count()` at any moment: job ids of the query seen so far."""

    def __init__(self, spark: Any, query: Any, interval_s: float = 2.0) -> None:
        self._context = spark.sparkContext
        self._group = str(query.runId)
        self._interval_s = interval_s
        self._seen: set[int] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._app_jobs_at_start = self.app_jobs()

    def start(self) -> SparkJobs:
        self._thread = threading.Thread(target=self._run, name="spark-jobs", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self._interval_s):
            self.poll()

    def poll(self) -> None:
        try:
            ids = self._context.statusTracker().getJobIdsForGroup(self._group)
        except Exception:  # the session is stopping: the last poll's ids stand
            return
        with self._lock:
            self._seen.update(int(i) for i in ids)

    def count(self) -> int:
        """Jobs of the query so far."""
        self.poll()
        with self._lock:
            return len(self._seen)

    def app_jobs(self) -> int:
        """Every job the application has run (any group): a cross-check."""
        try:
            return int(self._context._jsc.sc().dagScheduler().numTotalJobs())
        except Exception:
            return 0

    def app_jobs_since_start(self) -> int:
        return self.app_jobs() - self._app_jobs_at_start

    def stop(self) -> None:
        self.poll()
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)


def per_batch(jobs: int, batches: int) -> float | None:
    return round(jobs / batches, 2) if batches else None
