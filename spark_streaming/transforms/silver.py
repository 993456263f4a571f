"""Silver: valid events flattened, and one table shape per business entity."""

from __future__ import annotations

from collections.abc import Sequence

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from spark_streaming.schemas import MONEY

# Where each row came from and when: lets a row be traced back to its Kafka record
_LINEAGE = ("produced_at", "is_late", "ingested_at", "kafka_partition", "kafka_offset")


def valid_events(validated: DataFrame) -> DataFrame:
    """Rows without a reason code, event fields as top-level columns plus Kafka lineage."""
    return validated.where(F.col("reason").isNull()).select(
        "event.*", *_kafka_position(), "kafka_timestamp", "ingested_at"
    )


# What de-duplication decides on: the event's own fields, then where Kafka stored it
_EVENT_LINEAGE = ("event_id", "event_time", "produced_at")
LINEAGE = (*_EVENT_LINEAGE, "kafka_partition", "kafka_offset")


def outcomes(validated: DataFrame, keep: Sequence[str] = ()) -> DataFrame:
    """Per record: the `keep` columns, its reason code (null when valid) and its LINEAGE
    (the event fields are null when the payload did not parse)."""
    return validated.select(
        *keep,
        "reason",
        *(F.col(f"event.{name}").alias(name) for name in _EVENT_LINEAGE),
        *_kafka_position(),
    )


def _kafka_position() -> list[Column]:
    return [
        F.col("partition").cast("int").alias("kafka_partition"),
        F.col("offset").cast("long").alias("kafka_offset"),
    ]


def sales_lines(events: DataFrame) -> DataFrame:
    """One row per basket line, with the line's revenue after discount."""
    lines = events.withColumn("line", F.explode("lines"))
    gross = F.col("line.quantity") * F.col("line.unit_price")
    return lines.select(
        "event_id",
        "transaction_id",
        "event_time",
        F.col("store_id").cast("int").alias("store_id"),
        "channel",
        F.col("customer_id").cast("long").alias("customer_id"),
        "payment_type",
        F.col("line.line_number").cast("int").alias("line_number"),
        F.col("line.product_id").cast("long").alias("product_id"),
        F.col("line.quantity").cast("int").alias("quantity"),
        F.col("line.unit_price").cast(MONEY).alias("unit_price"),
        F.col("line.discount").cast(MONEY).alias("discount"),
        (gross - F.col("line.discount")).cast(MONEY).alias("line_revenue"),
        *_lineage_and_date(),
    )


def clickstream_events(events: DataFrame) -> DataFrame:
    return events.select(
        "event_id",
        "event_time",
        "event_type",
        F.col("product_id").cast("long").alias("product_id"),
        F.col("category_id").cast("long").alias("category_id"),
        "category_code",
        "brand",
        F.col("price").cast(MONEY).alias("price"),
        F.col("user_id").cast("long").alias("user_id"),
        "user_session",
        *_lineage_and_date(),
    )


def inventory_changes(events: DataFrame) -> DataFrame:
    """One row per changed product; quantity is signed (negative takes stock away)."""
    items = _items_of(events, "inventory_change")
    return items.select(
        "event_id",
        "trans_id",
        "event_time",
        F.col("store_id").cast("int").alias("store_id"),
        "change_type",
        F.col("item.product_id").cast("long").alias("product_id"),
        F.col("item.quantity").cast("int").alias("quantity"),
        *_lineage_and_date(),
    )


def inventory_snapshots(events: DataFrame) -> DataFrame:
    """One row per counted product; quantity is the absolute stock on hand."""
    items = _items_of(events, "inventory_snapshot")
    return items.select(
        "event_id",
        "event_time",
        F.col("store_id").cast("int").alias("store_id"),
        F.col("item.product_id").cast("long").alias("product_id"),
        F.col("item.quantity").cast("int").alias("quantity"),
        *_lineage_and_date(),
    )


def _items_of(events: DataFrame, event_type: str) -> DataFrame:
    return events.where(F.col("event_type") == event_type).withColumn("item", F.explode("items"))


def _lineage_and_date() -> list[Column]:
    return [
        *(F.col(name) for name in _LINEAGE),
        F.to_date("event_time").alias("event_date"),
    ]
