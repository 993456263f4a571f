from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from spark_streaming.event_time_state import (
    EventTimeState,
    first_copies,
    parse_duration,
    time_ranges,
)

AT = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


def test_keeps_the_first_read_copy_of_each_event_in_a_batch():
    rows = [
        ("a", AT, 0, 5),  # resent
        ("a", AT, 0, 3),  # first
        ("a", AT, 1, 1),  # other partition
        ("b", AT, 1, 2),  # only copy
        ("d", AT, 1, 0),  # other partition
        ("d", AT, 0, 7),  # first
    ]

    keep, duplicates = first_copies(rows)

    assert sorted(keep) == [("a", AT, 0, 3), ("b", AT, 1, 2), ("d", AT, 0, 7)]
    assert sorted(duplicates) == [("a", AT, 0, 5), ("a", AT, 1, 1), ("d", AT, 1, 0)]


def test_advance_moves_the_watermark_forward_only():
    state = EventTimeState(timedelta(minutes=2))
    assert state.watermark is None
    later = AT + timedelta(minutes=5)

    state.advance([AT, later])
    state.advance([AT - timedelta(hours=1)])  # a late event does not pull it back
    state.advance([])

    assert state.watermark == later - timedelta(minutes=2)


def test_time_ranges_split_where_times_lie_further_apart_than_the_gap():
    times = [AT + timedelta(seconds=s) for s in (30, 0, 90, 400, 410)] + [AT - timedelta(hours=3)]

    ranges = time_ranges(times, timedelta(minutes=2))

    assert ranges == [
        (AT - timedelta(hours=3), AT - timedelta(hours=3)),
        (AT, AT + timedelta(seconds=90)),
        (AT + timedelta(seconds=400), AT + timedelta(seconds=410)),
    ]
    assert time_ranges([], timedelta(minutes=2)) == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2 minutes", timedelta(minutes=2)),
        ("30 seconds", timedelta(seconds=30)),
        ("1 hour", timedelta(hours=1)),
        ("500 milliseconds", timedelta(milliseconds=500)),
        ("1 day", timedelta(days=1)),
    ],
)
def test_parse_duration_reads_spark_intervals(text, expected):
    assert parse_duration(text) == expected


def test_parse_duration_says_what_it_expects():
    with pytest.raises(ValueError, match="2 minutes"):
        parse_duration("soon")
