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
        raise ValueError(
            f"cannot read duration {text!r}; write it like '2 minutes' or '30 seconds'"
        )
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

    def sort_out(
        self, rows: Iterable[tuple[str, datetime, int, int]]
    ) -> tuple[
        list[tuple[str, datetime, int, int]], list[tuple[str, datetime, int, int]], set[str]
    ]:
        """Split a batch's (event_id, event_time, partition, offset) rows into the ones to
        keep and the duplicates, and name the kept ids too old to be remembered (the
        caller looks those up in silver).

        Within the batch the copy at the lowest (partition, offset) wins; an id stored
        before at another offset is a duplicate; the same id at the same offset is this
        very record replayed after a crash, and is kept.
        """
        keep: list[tuple[str, datetime, int, int]] = []
        duplicates: list[tuple[str, datetime, int, int]] = []
        to_look_up: set[str] = set()
        in_batch: set[str] = set()
        watermark = self.watermark
        for row in sorted(rows, key=lambda r: (r[2], r[3])):
            event_id, event_time, partition, offset = row
            previous = self.seen.get(event_id)
            if event_id in in_batch or (
                previous is not None
                and (previous.partition, previous.offset) != (partition, offset)
            ):
                duplicates.append(row)
                continue
            in_batch.add(event_id)
            keep.append(row)
            if previous is None and watermark is not None and event_time < watermark:
                to_look_up.add(event_id)
        return keep, duplicates, to_look_up

    def advance(self, rows: Iterable[tuple[str, datetime, int, int]]) -> None:
        """Remember the stored events, move the watermark, forget ids that fell behind it."""
        for event_id, event_time, partition, offset in rows:
            self.seen.setdefault(event_id, SeenEvent(event_time, partition, offset))
            if self.max_event_time is None or event_time > self.max_event_time:
                self.max_event_time = event_time
        watermark = self.watermark
        if watermark is not None:
            self.seen = {k: v for k, v in self.seen.items() if v.event_time >= watermark}
