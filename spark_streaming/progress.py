"""Progress lines for every streaming query: rows/s in and processed, batch duration."""

from __future__ import annotations

import logging

from pyspark.sql import SparkSession
from pyspark.sql.streaming import StreamingQueryListener

from retail_lakehouse.logs import kv

log = logging.getLogger("spark_streaming.progress")


class ProgressLogger(StreamingQueryListener):
    """Logs `event=query_progress` per micro-batch; the batch processor logs its own
    counts (late rows, duplicates, quarantine, watermark, latency)."""

    def onQueryStarted(self, event) -> None:  # type: ignore[no-untyped-def]
        log.info(kv("query_started", query=event.name, id=event.id, run_id=event.runId))

    def onQueryProgress(self, event) -> None:  # type: ignore[no-untyped-def]
        p = event.progress
        if p.numInputRows == 0:
            return
        log.info(
            kv(
                "query_progress",
                query=p.name,
                batch=p.batchId,
                input_rows=p.numInputRows,
                input_rows_per_s=float(p.inputRowsPerSecond or 0.0),
                processed_rows_per_s=float(p.processedRowsPerSecond or 0.0),
                batch_duration_ms=p.batchDuration,
                # Spark's own split of the trigger: latestOffset and planning happen
                # before foreachBatch (addBatch), walCommit and commit around it
                **{f"{k}_ms": v for k, v in sorted((p.durationMs or {}).items())},
            )
        )

    def onQueryIdle(self, event) -> None:  # type: ignore[no-untyped-def]
        return None

    def onQueryTerminated(self, event) -> None:  # type: ignore[no-untyped-def]
        if event.exception:
            log.error(kv("query_failed", id=event.id, error=event.exception.splitlines()[0]))
        else:
            log.info(kv("query_stopped", id=event.id))


def log_progress_of(spark: SparkSession) -> None:
    """Add the listener once per session: every listener is called through py4j for
    every event of every query, so one added per `start_streams` call (tests, the
    bench) piles up until Spark's listener bus drops events and batches slow down."""
    if not getattr(spark, "_lakehouse_progress_listener", False):
        spark.streams.addListener(ProgressLogger())
        spark._lakehouse_progress_listener = True  # type: ignore[attr-defined]
