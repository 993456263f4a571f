from __future__ import annotations

from datetime import datetime

import pyarrow as pa
from batch_support import utc

from spark_streaming.batch.silver_minutes import SCHEMA, SilverMinutes

AT = utc("2026-03-02 07:00:10")


def rows(*events: tuple[str, datetime, int, int]) -> pa.Table:
    """Silver rows: (event_id, event_time, kafka_partition, kafka_offset)."""
    return pa.Table.from_pylist(
        [dict(zip(SCHEMA.names, e, strict=True)) for e in events], schema=SCHEMA
    )


class Silver:
    """A silver to read from: gives every row it holds, whatever the predicate (the
    cache keeps only the minutes it asked for); records the predicates."""

    def __init__(self, table: pa.Table) -> None:
        self.table = table
        self.asked: list[str] = []

    def __call__(self, where: str) -> pa.Table:
        self.asked.append(where)
        return self.table


def test_a_minute_is_read_from_silver_once_then_answered_from_memory():
    silver = Silver(rows(("o-1", AT, 0, 2), ("o-2", utc("2026-03-02 07:00:50"), 1, 7)))
    lookup = SilverMinutes(silver)

    first = lookup({"o-1", "x"}, [(AT, AT)])
    second = lookup({"o-2"}, [(utc("2026-03-02 07:00:40"), utc("2026-03-02 07:00:45"))])

    assert first == {"o-1": {(0, 2)}}
    assert second == {"o-2": {(1, 7)}}  # another time in the same minute
    assert silver.asked == [
        "(event_time >= '2026-03-02T07:00:00+00:00' AND event_time < '2026-03-02T07:01:00+00:00'"
        " AND event_date >= '2026-03-02' AND event_date <= '2026-03-02')"
    ]
    assert lookup.reads == 1


def test_neighbouring_minutes_are_read_as_one_range_and_kept_apart():
    silver = Silver(
        rows(
            ("a", utc("2026-03-01 23:59:30"), 0, 1),
            ("b", utc("2026-03-02 00:00:30"), 0, 2),
            ("c", utc("2026-03-02 00:05:00"), 0, 3),
        )
    )
    lookup = SilverMinutes(silver)

    found = lookup(
        {"a", "b", "c"},
        [
            (utc("2026-03-01 23:59:59"), utc("2026-03-02 00:00:01")),
            (utc("2026-03-02 00:05:00"), utc("2026-03-02 00:05:00")),
        ],
    )

    assert found == {"a": {(0, 1)}, "b": {(0, 2)}, "c": {(0, 3)}}
    assert silver.asked == [
        "(event_time >= '2026-03-01T23:59:00+00:00' AND event_time < '2026-03-02T00:01:00+00:00'"
        " AND event_date >= '2026-03-01' AND event_date <= '2026-03-02') OR "
        "(event_time >= '2026-03-02T00:05:00+00:00' AND event_time < '2026-03-02T00:06:00+00:00'"
        " AND event_date >= '2026-03-02' AND event_date <= '2026-03-02')"
    ]


def test_events_stored_later_into_a_kept_minute_are_found_without_a_read():
    silver = Silver(rows(("o-1", AT, 0, 2)))
    lookup = SilverMinutes(silver)
    lookup({"o-1"}, [(AT, AT)])

    lookup.remember(
        rows(("late-1", utc("2026-03-02 07:00:59"), 2, 40), ("new", AT.replace(hour=9), 2, 41))
    )

    assert lookup({"late-1", "new"}, [(AT, AT)]) == {"late-1": {(2, 40)}}
    assert lookup.reads == 1  # 09:00 was not kept, so it was not added either


def test_the_minutes_used_last_are_kept_the_others_read_again():
    silver = Silver(rows(("o-1", AT, 0, 2)))
    lookup = SilverMinutes(silver, capacity=2)
    minutes = [utc(f"2026-03-02 07:0{m}:00") for m in (0, 2, 4)]

    for m in minutes:
        lookup({"o-1"}, [(m, m)])
    assert lookup.reads == 3
    lookup({"o-1"}, [(minutes[2], minutes[2])])  # kept
    assert lookup.reads == 3

    assert lookup({"o-1"}, [(minutes[0], minutes[0])]) == {"o-1": {(0, 2)}}  # read again
    assert lookup.reads == 4


def test_an_empty_silver_finds_nothing():
    lookup = SilverMinutes(Silver(SCHEMA.empty_table()))

    assert lookup({"o-1"}, [(AT, AT)]) == {}
    lookup.remember(rows(("o-1", AT, 0, 2)))
    assert lookup({"o-1"}, [(AT, AT)]) == {"o-1": {(0, 2)}}
    assert lookup.reads == 1
