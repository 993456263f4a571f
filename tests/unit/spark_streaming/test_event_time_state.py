from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from spark_streaming.event_time_state import EventTimeState, SeenEvent, parse_duration

AT = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


def test_keeps_the_first_read_copy_and_drops_events_seen_before():
    state = EventTimeState(timedelta(minutes=2), max_event_time=AT)
    state.seen["c"] = SeenEvent(AT, 0, 9)
    rows = [
        ("a", AT, 0, 5),  # resent
        ("a", AT, 0, 3),  # first
        ("a", AT, 1, 1),  # other partition
        ("b", AT, 1, 2),  # only copy
        ("c", AT, 2, 4),  # stored by an earlier batch at another offset
        ("d", AT, 1, 0),  # other partition
        ("d", AT, 0, 7),  # first
    ]

    keep, duplicates, to_look_up = state.sort_out(rows)

    assert sorted(keep) == [("a", AT, 0, 3), ("b", AT, 1, 2), ("d", AT, 0, 7)]
    assert sorted(duplicates) == [
        ("a", AT, 0, 5),
        ("a", AT, 1, 1),
        ("c", AT, 2, 4),
        ("d", AT, 1, 0),
    ]
    assert to_look_up == set()


def test_the_same_record_replayed_after_a_crash_is_kept():
    state = EventTimeState(timedelta(minutes=2), max_event_time=AT)
    state.seen["a"] = SeenEvent(AT, 0, 3)

    keep, duplicates, _ = state.sort_out([("a", AT, 0, 3)])

    assert (keep, duplicates) == ([("a", AT, 0, 3)], [])


def test_ids_older_than_the_watermark_and_not_remembered_need_a_look_up():
    state = EventTimeState(timedelta(minutes=2), max_event_time=AT)
    old = AT - timedelta(minutes=3)

    keep, _, to_look_up = state.sort_out([("old", old, 0, 1), ("new", AT, 0, 2)])

    assert [r[0] for r in keep] == ["old", "new"]
    assert to_look_up == {"old"}


def test_advance_moves_the_watermark_and_forgets_ids_behind_it():
    state = EventTimeState(timedelta(minutes=2))
    state.advance([("a", AT, 0, 1)])
    later = AT + timedelta(minutes=5)

    state.advance([("b", later, 0, 2), ("late", AT - timedelta(hours=1), 0, 3)])

    assert state.watermark == later - timedelta(minutes=2)
    assert set(state.seen) == {"b"}


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
