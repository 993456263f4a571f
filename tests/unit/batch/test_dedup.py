from __future__ import annotations

from datetime import datetime, timedelta

from batch_support import utc

from spark_streaming.batch.dedup import (
    EventIndex,
    EventTimeState,
    Position,
    candidates_of,
    decide,
    time_ranges,
)
from spark_streaming.batch.dedup import micros as us

AT = utc("2026-03-02 08:00:00")
GAP = timedelta(minutes=2)


class Silver:
    """The stored_in_silver look-up: id -> the positions silver holds it at. Records
    what it was asked."""

    def __init__(self, stored: dict[str, set[Position]] | None = None) -> None:
        self.stored = stored or {}
        self.asked: list[tuple[set[str], list[tuple[datetime, datetime]]]] = []

    def __call__(self, ids, ranges):
        self.asked.append((set(ids), list(ranges)))
        return {i: self.stored[i] for i in ids if i in self.stored}


def test_the_first_copy_in_kafka_order_wins():
    rows = [
        ("a", us(AT), 0, 5),  # resent
        ("a", us(AT), 0, 3),  # first
        ("a", us(AT), 1, 1),  # other partition
        ("b", us(AT), 1, 2),  # only copy
        ("d", us(AT), 1, 0),  # other partition
        ("d", us(AT), 0, 7),  # first
    ]
    silver = Silver()

    decision = decide(rows, EventIndex(horizon=2 * GAP), silver, GAP)

    assert sorted(decision.keep) == [("a", us(AT), 0, 3), ("b", us(AT), 1, 2), ("d", us(AT), 0, 7)]
    assert sorted(decision.duplicates) == [
        ("a", us(AT), 0, 5),
        ("a", us(AT), 1, 1),
        ("d", us(AT), 1, 0),
    ]
    assert silver.asked == []  # an index that holds every stored event needs no look-up


def test_the_same_id_at_the_same_position_is_a_replay_and_kept():
    index = EventIndex(horizon=2 * GAP)
    index.add([("a", us(AT), 0, 3)])

    decision = decide([("a", us(AT), 0, 3)], index, Silver(), GAP)

    assert decision.keep == [("a", us(AT), 0, 3)]
    assert decision.duplicates == []


def test_an_id_stored_at_another_position_is_a_duplicate_even_with_a_changed_event_time():
    """A resend whose event_time changed must not reach silver twice."""
    index = EventIndex(horizon=2 * GAP)
    index.add([("a", us(AT), 0, 3), ("b", us(AT), 0, 4)])
    resent = ("a", us(AT + timedelta(seconds=30)), 1, 9)
    new = ("c", us(AT), 1, 10)

    decision = decide([resent, new], index, Silver(), GAP)

    assert decision.keep == [new]
    assert decision.duplicates == [resent]


def test_candidates_older_than_the_index_floor_are_looked_up_in_silver():
    index = EventIndex(horizon=4 * timedelta(minutes=1))
    index.evict_before(utc("2026-03-02 08:10:00"))  # floor 08:06
    elsewhere = ("o-1", us(utc("2026-03-02 07:00:00")), 0, 20)
    replayed = ("o-2", us(utc("2026-03-02 07:01:00")), 0, 21)
    never_stored = ("o-3", us(utc("2026-03-02 07:30:00")), 0, 22)
    resent_in_batch = ("o-3", us(utc("2026-03-02 07:30:00")), 0, 23)
    recent = ("r-1", us(utc("2026-03-02 08:09:00")), 0, 24)
    silver = Silver({"o-1": {(0, 2)}, "o-2": {(0, 21)}})

    decision = decide(
        [elsewhere, replayed, never_stored, resent_in_batch, recent], index, silver, GAP
    )

    assert sorted(decision.keep) == [replayed, never_stored, recent]
    assert sorted(decision.duplicates) == [elsewhere, resent_in_batch]
    # one look-up, for the old candidates only, bounded by their event times
    assert silver.asked == [
        (
            {"o-1", "o-2", "o-3"},
            [
                (utc("2026-03-02 07:00:00"), utc("2026-03-02 07:01:00")),
                (utc("2026-03-02 07:30:00"), utc("2026-03-02 07:30:00")),
            ],
        )
    ]


def test_the_index_forgets_ids_past_its_horizon_a_minute_at_a_time():
    index = EventIndex(horizon=timedelta(minutes=4))
    index.add(
        [
            ("e-1", us(utc("2026-03-02 08:05:59")), 0, 1),
            ("e-2", us(utc("2026-03-02 08:06:00")), 0, 2),
            ("e-3", us(utc("2026-03-02 08:09:00")), 0, 3),
        ]
    )

    index.evict_before(utc("2026-03-02 08:10:30"))  # floor 08:06:30, minute 08:06 kept

    assert len(index) == 2
    assert index.position_of("e-1") is None
    assert index.position_of("e-2") == (0, 2)
    assert index.position_of("e-3") == (0, 3)
    assert index.floor == us(utc("2026-03-02 08:06:30"))
    assert index.covers(us(utc("2026-03-02 08:06:30")))
    assert not index.covers(us(utc("2026-03-02 08:06:29.999")))


def test_the_index_floor_never_moves_back():
    index = EventIndex(horizon=timedelta(minutes=4))
    index.evict_before(utc("2026-03-02 08:10:00"))

    index.evict_before(utc("2026-03-02 08:08:00"))
    index.evict_before(None)

    assert index.floor == us(utc("2026-03-02 08:06:00"))


def test_an_evicted_id_is_looked_up_in_silver():
    index = EventIndex(horizon=timedelta(minutes=4))
    index.add([("e-1", us(utc("2026-03-02 08:05:59")), 0, 1)])
    index.evict_before(utc("2026-03-02 08:10:30"))
    resent = ("e-1", us(utc("2026-03-02 08:05:59")), 0, 9)
    silver = Silver({"e-1": {(0, 1)}})

    decision = decide([resent], index, silver, GAP)

    assert decision.duplicates == [resent]
    assert silver.asked == [({"e-1"}, [(utc("2026-03-02 08:05:59"), utc("2026-03-02 08:05:59"))])]


def test_the_index_keeps_the_first_position_of_an_id():
    index = EventIndex(horizon=timedelta(minutes=4))

    index.add([("a", us(AT), 0, 3), ("a", us(AT), 1, 1)])
    index.add([("a", us(AT), 2, 2)])

    assert len(index) == 1
    assert index.position_of("a") == (0, 3)


def test_advance_moves_the_watermark_forward_only():
    state = EventTimeState(timedelta(minutes=2))
    assert state.watermark is None
    later = AT + timedelta(minutes=5)

    state.advance([AT, later])
    state.advance([AT - timedelta(hours=1)])  # a late event does not pull it back
    state.advance([])

    assert state.max_event_time == later
    assert state.watermark == later - timedelta(minutes=2)


def test_a_recovered_state_starts_from_the_stored_newest_event_time():
    assert EventTimeState(timedelta(minutes=2), AT).watermark == AT - timedelta(minutes=2)


def test_time_ranges_split_where_times_lie_further_apart_than_the_gap():
    times = [AT + timedelta(seconds=s) for s in (30, 0, 90, 400, 410)] + [AT - timedelta(hours=3)]

    ranges = time_ranges(times, GAP)

    assert ranges == [
        (AT - timedelta(hours=3), AT - timedelta(hours=3)),
        (AT, AT + timedelta(seconds=90)),
        (AT + timedelta(seconds=400), AT + timedelta(seconds=410)),
    ]
    assert time_ranges([], GAP) == []


def test_candidates_of_zips_the_columns():
    actual = candidates_of(["a", "b"], [us(AT), us(AT)], [0, 1], [5, 6])

    assert actual == [("a", us(AT), 0, 5), ("b", us(AT), 1, 6)]
