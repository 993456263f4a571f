from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from producer.clock import DEFAULT_START, RealtimeClock, SimulatedClock, from_ms, to_ms


def test_simulated_clock_starts_at_the_default_and_follows_the_simulation() -> None:
    clock = SimulatedClock()
    assert clock.now() == datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
    clock.advance_to(DEFAULT_START + timedelta(seconds=1, microseconds=123_456))
    assert clock.now() == datetime(2026, 3, 2, 8, 0, 1, 123_000, tzinfo=UTC)


def test_simulated_clock_never_goes_back() -> None:
    clock = SimulatedClock(datetime(2026, 1, 1, tzinfo=UTC))
    with pytest.raises(ValueError, match="cannot go back"):
        clock.advance_to(datetime(2025, 12, 31, tzinfo=UTC))


def test_naive_start_is_refused() -> None:
    with pytest.raises(ValueError, match="time zone"):
        SimulatedClock(datetime(2026, 1, 1))


def test_realtime_clock_is_the_wall_clock_in_milliseconds() -> None:
    before = datetime.now(UTC) - timedelta(milliseconds=1)
    stamp = RealtimeClock().now()
    assert before <= stamp <= datetime.now(UTC)
    assert stamp.microsecond % 1000 == 0 and stamp.tzinfo == UTC


def test_millisecond_timeline_round_trips() -> None:
    moment = datetime(2026, 3, 2, 8, 0, 0, 5000, tzinfo=UTC)
    assert to_ms(moment) == 1_772_438_400_005
    assert from_ms(1_772_438_400_005) == moment
