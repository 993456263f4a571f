"""Watermark and de-duplication state of one event family, kept by the driver.

The semantics are Spark's: the watermark used for micro-batch N is the largest event
time seen in batches before N minus the delay, and it never moves back. Event ids are
remembered while their event time is inside the watermark. The state is rebuilt from
the silver tables on start, so it always agrees with what was committed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

_UNITS = {
    "ms": "milliseconds",
    "millisecond": "milliseconds",
    "second": "seconds",
    "sec": "seconds",
    "s": "seconds",
    "minute": "minutes",
    "min": "minutes",
    "m": "minutes",
    "hour": "hours",
    "h": "hours",
    "day": "days",
    "d": "days",
}


def parse_duration(text: str) -> timedelta:
    """Parse Spark-style interval strings such as '2 minutes', '30 seconds', '1 hour'."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]+?)s?\s*", text)
    if not match or match.group(2).lower() not in _UNITS:
        raise ValueError(f"cannot read duration {text!r}; write it like '2 minutes' or '30 seconds'")
    return timedelta(**{_UNITS[match.group(2).lower()]: float(match.group(1))})


@dataclass(frozen=True)
class SeenEvent:
    """Where an event id was first stored: a duplicate is the same id at another offset."""

    event_time: datetime
    partition: int
    offset: int


@dataclass
class EventTimeState:
    delay: timedelta
    max_event_time: datetime | None = None
    seen: dict[str, SeenEvent] = field(default_factory=dict)

    @property
    def watermark(self) -> datetime | None:
        return None if self.max_event_time is None else self.max_event_time - self.delay

    def classify(
        self, rows: Iterable[tuple[str, datetime, int, int]]
    ) -> tuple[set[str], set[str]]:
        """Split a batch's (event_id, event_time, partition, offset) rows into ids already
        stored at another offset, and ids too old to be in memory (need a lookup)."""
        known: set[str] = set()
        to_look_up: set[str] = set()
        watermark = self.watermark
        for event_id, event_time, partition, offset in rows:
            previous = self.seen.get(event_id)
            if previous is not None:
                if (previous.partition, previous.offset) != (partition, offset):
                    known.add(event_id)
            elif watermark is not None and event_time < watermark:
                to_look_up.add(event_id)
        return known, to_look_up

    def advance(self, rows: Iterable[tuple[str, datetime, int, int]]) -> None:
        """Remember the stored events, move the watermark, forget ids that fell behind it."""
        for event_id, event_time, partition, offset in rows:
            self.seen.setdefault(event_id, SeenEvent(event_time, partition, offset))
            if self.max_event_time is None or event_time > self.max_event_time:
                self.max_event_time = event_time
        watermark = self.watermark
        if watermark is not None:
            self.seen = {k: v for k, v in self.seen.items() if v.event_time >= watermark}
