"""De-duplication by event_id and late-event flags.

A producer retry or a replayed Kafka range resends an event with the same event_id;
only its first copy may reach silver and gold.
"""

from __future__ import annotations

from datetime import datetime

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from spark_streaming.transforms.literals import timestamp_literal

_COPY_NUMBER = "_copy_number"


def drop_duplicate_events(events: DataFrame, already_seen: DataFrame) -> DataFrame:
    """One row per event_id: the copy read first (lowest kafka partition, offset), and
    none whose event_id is in `already_seen` (event ids stored by earlier batches)."""
    first_read = Window.partitionBy("event_id").orderBy("kafka_partition", "kafka_offset")
    first_copies = (
        events.withColumn(_COPY_NUMBER, F.row_number().over(first_read))
        .where(F.col(_COPY_NUMBER) == 1)
        .drop(_COPY_NUMBER)
    )
    seen_ids = already_seen.select("event_id")
    return first_copies.join(seen_ids, on="event_id", how="left_anti").select(*events.columns)


def flag_late(events: DataFrame, watermark: datetime | None) -> DataFrame:
    """Adds is_late: the event is older than the watermark, so its minute windows are
    already final. Before the first watermark nothing is late."""
    if watermark is None:
        return events.withColumn("is_late", F.lit(False))
    return events.withColumn("is_late", F.col("event_time") < timestamp_literal(watermark))


def drop_records_at(events: DataFrame, positions: DataFrame) -> DataFrame:
    """Removes the records at the given (kafka_partition, kafka_offset) positions.

    The streaming job decides which copies are duplicates from the batch's lineage in
    the driver (it has to collect that anyway for its state), so removing them is a
    broadcast anti-join instead of a window over event_id, which would shuffle.
    """
    keys = ["kafka_partition", "kafka_offset"]
    return events.join(F.broadcast(positions.select(*keys)), on=keys, how="left_anti").select(
        *events.columns
    )
