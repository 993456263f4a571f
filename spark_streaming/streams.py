"""Start, watch and stop the per-family streaming queries.

One query per event family, each reading its topic once per trigger and feeding
every table of that family, with its own checkpoint.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from pyspark.sql import SparkSession
from pyspark.sql.streaming import StreamingQuery

from retail_lakehouse.logs import kv
from retail_lakehouse.settings import Settings
from spark_streaming.crash_drill import with_crash_drill
from spark_streaming.family_batch import FamilyBatchProcessor
from spark_streaming.family_plans import plan_for
from spark_streaming.lake_writer import LakeWriter, make_lake_writer
from spark_streaming.progress import ProgressLogger
from spark_streaming.sources import kafka_source_name, read_kafka_stream

log = logging.getLogger(__name__)

ALL_FAMILIES = ("sales", "clickstream", "inventory")


@dataclass
class RunningStream:
    family: str
    query: StreamingQuery
    processor: FamilyBatchProcessor


def start_streams(
    spark: SparkSession,
    settings: Settings,
    families: Iterable[str] = ALL_FAMILIES,
    writer: LakeWriter | None = None,
) -> list[RunningStream]:
    writer = with_crash_drill(writer or make_lake_writer(spark, settings))
    spark.streams.addListener(ProgressLogger())
    log.info(
        kv(
            "streams_starting",
            source=kafka_source_name(spark, settings),
            lake_root=settings.resolved_lake_root,
            checkpoints=settings.resolved_checkpoint_root,
            trigger=settings.trigger_interval,
            watermark=settings.watermark_delay,
        )
    )
    running = []
    for name in families:
        plan = plan_for(name)
        processor = FamilyBatchProcessor(plan, settings, writer, spark)
        query = _start_query(spark, settings, processor)
        running.append(RunningStream(name, query, processor))
    return running


def _start_query(
    spark: SparkSession, settings: Settings, processor: FamilyBatchProcessor
) -> StreamingQuery:
    """Start one family's query, once its sources are up.

    Queries start one after another: a Python source starts a Python process that
    must connect back to the JVM within Spark's fixed ten seconds, which a busy
    two-core machine can miss. Such a start-up failure has read nothing yet, so the
    query is simply started again from its checkpoint.
    """
    plan = processor.plan
    give_up_at = time.monotonic() + START_RETRY_S
    attempt = 0
    while True:
        attempt += 1
        query = (
            read_kafka_stream(spark, settings, [settings.topic(plan.family)])
            .writeStream.queryName(plan.query_name)
            .foreachBatch(processor)
            .option("checkpointLocation", f"{settings.resolved_checkpoint_root}/{plan.query_name}")
            .trigger(processingTime=settings.trigger_interval)
            .start()
        )
        processor.bind(str(query.id))
        _wait_until_sources_started(query)
        error = None if query.isActive else query.exception()
        if error is None or WORKER_START_TIMEOUT not in str(error):
            return query
        if time.monotonic() > give_up_at:
            return query  # its error is raised by await_streams
        log.warning(kv("query_start_retry", query=plan.query_name, attempt=attempt))
        time.sleep(min(attempt, 5))


# how long a query whose Python source cannot start is tried again
START_RETRY_S = 600.0
WORKER_START_TIMEOUT = "Python worker failed to connect back"


def _wait_until_sources_started(query: StreamingQuery, timeout_s: float = 60.0) -> None:
    """Until the query has created its sources (or failed doing so)."""
    deadline = time.monotonic() + timeout_s
    while query.isActive and time.monotonic() < deadline:
        # "Initializing StreamExecution", then "Initializing sources"
        if not str(query.status.get("message", "")).startswith("Initializing"):
            return
        time.sleep(0.1)


def stop_streams(running: Iterable[RunningStream], timeout_s: float = 60.0) -> None:
    """Stop each query between micro-batches so no batch is cut in half."""
    for stream in running:
        deadline = time.monotonic() + timeout_s
        while stream.query.isActive and stream.query.status.get("isTriggerActive"):
            if time.monotonic() > deadline:
                break
            time.sleep(0.05)
        stream.query.stop()
        log.info(kv("stream_stopped", family=stream.family))


def await_streams(
    running: list[RunningStream],
    stop: threading.Event | None = None,
    done: Callable[[], bool] | None = None,
    poll_s: float = 0.5,
) -> None:
    """Block until Ctrl-C, `stop` is set, `done()` is true, or a query fails; then stop all.

    A failed query's error is raised after the others have been stopped cleanly.
    """
    try:
        while True:
            for stream in running:
                if not stream.query.isActive:
                    error = stream.query.exception()
                    if error is not None:
                        raise RuntimeError(f"{stream.family} stream failed: {error}") from None
                    return
            if (stop is not None and stop.is_set()) or (done is not None and done()):
                return
            time.sleep(poll_s)
    except KeyboardInterrupt:
        log.info(kv("interrupted", action="stopping streams after their current batch"))
    finally:
        stop_streams(running)
