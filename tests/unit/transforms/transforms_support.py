"""Builders shared by the transform tests: Kafka rows from payloads, and time literals."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from pyspark.sql import DataFrame, SparkSession

from retail_lakehouse.contracts import EventFamily
from spark_streaming.schemas import KAFKA_SCHEMA
from spark_streaming.transforms.validation import validated_records

KAFKA_TIME = datetime(2026, 3, 2, 8, 0, 5, tzinfo=UTC)
INGESTED_AT = datetime(2026, 3, 2, 8, 0, 6, tzinfo=UTC)

# Valid payloads, one per event type shape, written out as a producer would send them
SALE = """{"event_id": "s-1", "event_type": "sale",
 "event_time": "2026-03-02T08:00:01.123Z", "produced_at": "2026-03-02T08:00:01.200Z",
 "transaction_id": "t-1", "store_id": 12, "channel": "store", "customer_id": 501,
 "payment_type": "card",
 "lines": [
   {"line_number": 1, "product_id": 1001, "quantity": 2, "unit_price": 19.99, "discount": 0},
   {"line_number": 2, "product_id": 1002, "quantity": 1, "unit_price": 5.5, "discount": 0.5}]}"""

LINE = {"line_number": 1, "product_id": 1001, "quantity": 2, "unit_price": 19.99, "discount": 0}

VIEW = """{"event_id": "c-1", "event_type": "view",
 "event_time": "2026-03-02T08:00:02.000Z", "produced_at": "2026-03-02T08:00:02.010Z",
 "product_id": 1001, "category_id": 2053013555631882655,
 "category_code": "electronics.smartphone", "brand": "acme", "price": 199.0,
 "user_id": 520088904, "user_session": "sess-1"}"""

CHANGE = """{"event_id": "i-1", "event_type": "inventory_change",
 "event_time": "2026-03-02T08:00:03.000Z", "produced_at": "2026-03-02T08:00:03.001Z",
 "trans_id": "t-1", "store_id": 12, "change_type": "sale",
 "items": [{"product_id": 1001, "quantity": -2}, {"product_id": 1002, "quantity": -1}]}"""

SNAPSHOT = """{"event_id": "i-2", "event_type": "inventory_snapshot",
 "event_time": "2026-03-02T08:00:00.000Z", "produced_at": "2026-03-02T08:00:00.500Z",
 "store_id": 12,
 "items": [{"product_id": 1001, "quantity": 40}, {"product_id": 1002, "quantity": 0}]}"""


def utc(text: str) -> datetime:
    """'2026-03-02 08:00:01.123' -> an aware UTC datetime."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def changed(payload: str, **changes: Any) -> bytes:
    """A literal payload with some fields replaced; a value of `...` removes the field."""
    event = json.loads(payload)
    for name, value in changes.items():
        if value is ...:
            event.pop(name)
        else:
            event[name] = value
    return json.dumps(event).encode()


def kafka_rows(
    spark: SparkSession, payloads: list[bytes | None], topic: str = "t", partition: int = 0
) -> DataFrame:
    """One Kafka record per payload, at offsets 0, 1, 2, ..."""
    rows = [
        (b"k", payload, topic, partition, offset, KAFKA_TIME, 0)
        for offset, payload in enumerate(payloads)
    ]
    return spark.createDataFrame(rows, KAFKA_SCHEMA)


def validated(spark: SparkSession, family: EventFamily, payloads: list[bytes | None]) -> DataFrame:
    """Payloads on topic "t" of `family`, through the Spark half of a batch."""
    return validated_records(kafka_rows(spark, payloads), {"t": family})
