"""De-duplication by event_id and late-event flags.

A producer retry or a replayed Kafka range resends an event with the same event_id;
only its first copy may reach silver and gold. Which copies are duplicates is decided
in the driver from the batch's lineage (`event_time_state.first_copies`, then a look-up
of the ids in silver); this module removes them and flags late events.
"""

from __future__ import annotations

from datetime import datetime

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from spark_streaming.transforms.literals import timestamp_literal


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
