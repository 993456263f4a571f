"""Where event_time comes from: a simulated timeline or the wall clock.

The simulator keeps its own timeline in whole milliseconds and tells the clock
where it has got to; the clock answers what event_time an event happening now
carries. A simulated clock follows the timeline exactly, so a seed replays the
same events; a real-time clock stamps the current UTC time.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol

DEFAULT_START = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


class Clock(Protocol):
    def now(self) -> datetime:
        """event_time for an event happening now: UTC, millisecond precision."""
        ...

    def advance_to(self, moment: datetime) -> None:
        """The simulation has reached `moment`."""
        ...


def to_millisecond(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError(f"{moment!r} has no time zone; event times are UTC")
    moment = moment.astimezone(UTC)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def utc_now() -> datetime:
    return to_millisecond(datetime.now(UTC))


class SimulatedClock:
    """Deterministic time that only moves when the simulation advances it."""

    def __init__(self, start: datetime = DEFAULT_START) -> None:
        self._now = to_millisecond(start)

    def now(self) -> datetime:
        return self._now

    def advance_to(self, moment: datetime) -> None:
        moment = to_millisecond(moment)
        if moment < self._now:
            raise ValueError(f"simulated time cannot go back from {self._now} to {moment}")
        self._now = moment


class RealtimeClock:
    """Wall-clock event times, for a live demo paced by the publisher's rate.

    The shop's own timeline (hour-of-day mix, stock-count interval) still runs on
    simulated time, which moves as fast as the publisher takes events.
    """

    def now(self) -> datetime:
        return utc_now()

    def advance_to(self, moment: datetime) -> None:
        # real time moves by itself
        return None


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def to_ms(moment: datetime) -> int:
    """Milliseconds since the Unix epoch, the simulator's timeline unit."""
    return (moment - _EPOCH) // timedelta(milliseconds=1)


def from_ms(t_ms: int) -> datetime:
    return _EPOCH + timedelta(milliseconds=t_ms)
