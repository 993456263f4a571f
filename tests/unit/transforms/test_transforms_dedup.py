from __future__ import annotations

from datetime import datetime

from chispa import assert_df_equality
from transforms_support import utc

from spark_streaming.transforms.dedup import drop_records_at, flag_late

EVENTS_SCHEMA = (
    "event_id string, event_time timestamp, kafka_partition int, kafka_offset long, note string"
)
AT = utc("2026-03-02 08:00:00")


def test_drops_exactly_the_records_at_the_given_positions(spark):
    events = spark.createDataFrame(
        [
            ("a", AT, 0, 5, "resent"),
            ("a", AT, 0, 3, "first"),
            ("a", AT, 1, 1, "other partition"),
            ("b", AT, 1, 2, "only copy"),
            ("c", AT, 0, 9, "stored by an earlier batch"),
        ],
        EVENTS_SCHEMA,
    )
    positions = spark.createDataFrame(
        [(0, 5), (1, 1), (0, 9), (2, 0)], "kafka_partition int, kafka_offset long"
    )

    actual = drop_records_at(events, positions)

    expected = spark.createDataFrame(
        [("a", AT, 0, 3, "first"), ("b", AT, 1, 2, "only copy")], EVENTS_SCHEMA
    )
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


def test_nothing_is_dropped_when_there_are_no_positions(spark):
    events = spark.createDataFrame([("a", AT, 0, 1, "x"), ("b", AT, 0, 2, "y")], EVENTS_SCHEMA)
    nothing = spark.createDataFrame([], "kafka_partition int, kafka_offset long")

    actual = drop_records_at(events, nothing)

    assert_df_equality(actual, events, ignore_row_order=True, ignore_nullable=True)


def test_events_before_the_watermark_are_late(spark):
    events = spark.createDataFrame(
        [
            ("early", utc("2026-03-02 07:59:59.999"), 0, 1, ""),
            ("on the mark", AT, 0, 2, ""),
            ("after", utc("2026-03-02 08:00:00.001"), 0, 3, ""),
        ],
        EVENTS_SCHEMA,
    )

    actual = flag_late(events, datetime(2026, 3, 2, 8, 0)).select("event_id", "is_late")

    expected = spark.createDataFrame(
        [("early", True), ("on the mark", False), ("after", False)],
        "event_id string, is_late boolean",
    )
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


def test_nothing_is_late_before_the_first_watermark(spark):
    events = spark.createDataFrame([("old", utc("2001-01-01 00:00:00"), 0, 1, "")], EVENTS_SCHEMA)

    actual = flag_late(events, None)

    expected = spark.createDataFrame(
        [("old", utc("2001-01-01 00:00:00"), 0, 1, "", False)],
        f"{EVENTS_SCHEMA}, is_late boolean",
    )
    assert_df_equality(actual, expected, ignore_nullable=True)
