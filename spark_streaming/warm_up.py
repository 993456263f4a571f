"""Pay Spark's first-batch costs before the first real batch arrives.

The first micro-batch of a fresh driver spends seconds starting Python workers (and
their imports of pyarrow and confluent-kafka) and generating code for the parse and
validation plans. Running the same transforms once on a few synthetic records moves
that cost to start-up, where it does not count against produce-to-gold latency.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime

import pyarrow as pa
from pyspark.sql import SparkSession

from retail_lakehouse.logs import kv
from spark_streaming.family_plans import plan_for
from spark_streaming.schemas import KAFKA_SCHEMA
from spark_streaming.transforms import bronze, dedup, silver, validation

log = logging.getLogger(__name__)


def _import_reader_modules(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    import confluent_kafka  # noqa: F401  the Kafka reader's imports, paid once per worker

    yield from batches


def warm_up(spark: SparkSession, families: Iterable[str]) -> None:
    started = time.monotonic()
    workers = spark.sparkContext.defaultParallelism
    spark.range(workers, numPartitions=workers).mapInArrow(
        _import_reader_modules, "id long"
    ).collect()
    now = datetime.now(UTC)
    sample = spark.createDataFrame(
        [(b"k", b'{"event_id": "warm-up"}', "warm-up", 0, 0, now, 0)], KAFKA_SCHEMA
    )
    for name in families:
        plan = plan_for(name)
        validated = validation.parse_and_validate(bronze.to_bronze(sample, now), plan.family)
        validation.quarantine_rows(validated, plan.family).toArrow()
        events = dedup.flag_late(silver.valid_events(validated), None)
        for _, build in plan.silver:
            build(events).toArrow()
    log.info(kv("warmed_up", seconds=time.monotonic() - started))
