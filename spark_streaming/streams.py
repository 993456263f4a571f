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
from functools import partial

from pyspark.sql import SparkSession
from pyspark.sql.streaming import StreamingQuery

from retail_lakehouse.logs import kv
from retail_lakehouse.settings import Settings
from spark_streaming.crash_drill import with_crash_drill
from spark_streaming.family_batch import FamilyBatchProcessor
from spark_streaming.family_plans import plan_for
from spark_streaming.lake_writer import LakeWriter, make_lake_writer
from spark_streaming.progress import log_progress_of
from spark_streaming.resilient_writer import with_outage_retries
from spark_streaming.sources import read_kafka_stream
from spark_streaming.supervision import (
    StreamFailedError,
    failure_reason,
    start_when_ready,
)

log = logging.getLogger(__name__)

ALL_FAMILIES = ("sales", "clickstream", "inventory")


@dataclass
class RunningStream:
    family: str
    query: StreamingQuery
    processor: FamilyBatchProcessor
    settings: Settings


def start_streams(
    spark: SparkSession,
    settings: Settings,
    families: Iterable[str] = ALL_FAMILIES,
    writer: LakeWriter | None = None,
) -> list[RunningStream]:
    writer = with_crash_drill(
        with_outage_retries(writer or make_lake_writer(spark, settings), settings)
    )
    log_progress_of(spark)
    log.info(
        kv(
            "streams_starting",
            source=settings.kafka_source,
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
        query = start_when_ready(partial(_start_query, spark, settings, processor))
        processor.bind(str(query.id))
        running.append(RunningStream(name, query, processor, settings))
    return running


def _start_query(
    spark: SparkSession, settings: Settings, processor: FamilyBatchProcessor
) -> StreamingQuery:
    plan = processor.plan
    return (
        read_kafka_stream(spark, settings, [settings.topic(plan.family)])
        .writeStream.queryName(plan.query_name)
        .foreachBatch(processor)
        .option("checkpointLocation", f"{settings.resolved_checkpoint_root}/{plan.query_name}")
        .trigger(processingTime=settings.trigger_interval)
        .start()
    )


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
                        others = [s.family for s in running if s is not stream]
                        reason = failure_reason(error, stream.settings)
                        failure = StreamFailedError(stream.family, reason, others)
                        log.error(kv("stream_failed", family=stream.family, stopping=others))
                        raise failure from None
                    return
            if (stop is not None and stop.is_set()) or (done is not None and done()):
                return
            time.sleep(poll_s)
    except KeyboardInterrupt:
        log.info(kv("interrupted", action="stopping streams after their current batch"))
    finally:
        stop_streams(running)
