"""Start, watch and stop the pipeline's streaming query.

One query reads every family's topic, so each trigger pays Spark's fixed costs (offsets,
planning, the offset and commit logs) once, and its foreachBatch feeds every table.
Where a new checkpoint starts reading comes from the lake when the lake has recorded
batches of the pipeline: a lost or reset checkpoint resumes instead of starting over.
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
from spark_streaming.batch import recovery
from spark_streaming.batch.plans import plan_for
from spark_streaming.batch.processor import QUERY_NAME, PipelineBatchProcessor
from spark_streaming.crash_drill import with_crash_drill
from spark_streaming.lake_writer import LakeWriter, lake_writer_name, make_lake_writer
from spark_streaming.progress import log_progress_of
from spark_streaming.resilient_writer import with_outage_retries
from spark_streaming.session import batch_partitions, launched_by_spark_submit
from spark_streaming.sources import read_kafka_stream
from spark_streaming.supervision import StreamFailedError, failure_reason, start_when_ready
from spark_streaming.transforms.validation import validated_records

log = logging.getLogger(__name__)

ALL_FAMILIES = ("sales", "clickstream", "inventory")


@dataclass
class RunningPipeline:
    query: StreamingQuery
    processor: PipelineBatchProcessor
    settings: Settings
    families: tuple[str, ...]

    def records_read(self, topic: str) -> int:
        """Records of `topic` the pipeline has committed since it started."""
        return self.processor.records_read[topic]

    def committed_through(self, topic: str) -> int:
        """How far the lake has `topic`, this run's batches and earlier runs' alike: the
        sum over its partitions of the next offset to read."""
        return sum(self.processor.read_offsets.get(topic, {}).values())


def start_pipeline(
    spark: SparkSession,
    settings: Settings,
    families: Iterable[str] = ALL_FAMILIES,
    writer: LakeWriter | None = None,
) -> RunningPipeline:
    chosen = tuple(families)
    writer = with_crash_drill(
        with_outage_retries(writer or make_lake_writer(spark, settings), settings)
    )
    log_progress_of(spark)
    processor = PipelineBatchProcessor([plan_for(f) for f in chosen], settings, writer)
    topics = [settings.topic(plan_for(f).family) for f in chosen]
    resume_at = _resume_offsets(settings, writer, topics)
    log.info(
        kv(
            "pipeline_starting",
            families=",".join(chosen),
            source=settings.kafka_source,
            writer=lake_writer_name(writer),
            lake_root=settings.resolved_lake_root,
            checkpoint=checkpoint_of(settings),
            trigger=settings.trigger_interval,
            watermark=settings.watermark_delay,
            resumes_from_lake=resume_at is not None,
        )
    )

    def start() -> StreamingQuery:
        records = read_kafka_stream(spark, settings, topics, resume_at)
        partitions = batch_partitions(settings, local=not launched_by_spark_submit())
        if partitions is not None:
            records = records.coalesce(partitions)
        return (
            validated_records(records, processor.families)
            .writeStream.queryName(QUERY_NAME)
            .foreachBatch(processor)
            .option("checkpointLocation", checkpoint_of(settings))
            .trigger(processingTime=settings.trigger_interval)
            .start()
        )

    query = start_when_ready(start)
    processor.bind(str(query.id))
    return RunningPipeline(query, processor, settings, chosen)


def checkpoint_of(settings: Settings) -> str:
    return f"{settings.resolved_checkpoint_root}/{QUERY_NAME}"


def _resume_offsets(settings: Settings, writer: LakeWriter, topics: list[str]) -> str | None:
    """Where a new checkpoint starts: the offsets the lake recorded (a checkpoint that
    exists ignores it). None when the lake has no batch of the pipeline yet."""
    if settings.kafka_source != "kafka":
        return None
    recorded = recovery.recorded_offsets(recovery.last_batches(writer, QUERY_NAME))
    if not recorded:
        return None
    partitions = _partitions(settings, topics)
    resume_at = recovery.starting_offsets(recorded, partitions, settings.starting_offsets)
    log.info(kv("lake_recorded_offsets", starting_offsets=resume_at))
    return resume_at


def _partitions(settings: Settings, topics: list[str]) -> dict[str, list[int]]:
    from confluent_kafka.admin import AdminClient

    admin = AdminClient(dict(settings.kafka_client_config()))
    metadata = admin.list_topics(timeout=30)
    return {
        topic: sorted(metadata.topics[topic].partitions) if topic in metadata.topics else [0]
        for topic in topics
    }


def stop_pipeline(running: RunningPipeline, timeout_s: float = 60.0) -> None:
    """Stop the query between micro-batches, so no batch is cut in half."""
    deadline = time.monotonic() + timeout_s
    query = running.query
    while query.isActive and query.status.get("isTriggerActive"):
        if time.monotonic() > deadline:
            break
        time.sleep(0.05)
    query.stop()
    log.info(kv("pipeline_stopped", families=",".join(running.families)))


def await_pipeline(
    running: RunningPipeline,
    stop: threading.Event | None = None,
    done: Callable[[], bool] | None = None,
    poll_s: float = 0.5,
) -> None:
    """Block until Ctrl-C, `stop` is set, `done()` is true, or the query fails; then stop
    it. A failed query's error is raised as one line (StreamFailedError)."""
    try:
        while True:
            if not running.query.isActive:
                error = running.query.exception()
                if error is not None:
                    reason = failure_reason(error, running.settings)
                    log.error(kv("pipeline_failed", families=",".join(running.families)))
                    raise StreamFailedError(",".join(running.families), reason, []) from None
                return
            if (stop is not None and stop.is_set()) or (done is not None and done()):
                return
            time.sleep(poll_s)
    except KeyboardInterrupt:
        log.info(kv("interrupted", action="stopping the pipeline after its current batch"))
    finally:
        stop_pipeline(running)
