"""Watermark of one event family, kept by the driver as one scalar.

The semantics are Spark's: the watermark used for micro-batch N is the largest event
time seen in batches before N minus the delay, and it never moves back. The scalar is
recovered on start from the silver tables' file statistics, so it always agrees with
what was committed. No event ids are kept: whether an event was stored before is asked
of silver itself (see `FamilyBatchProcessor`), so driver memory does not grow with
the rate or the watermark delay.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
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


Lineage = tuple[str, datetime, int, int]  # (event_id, event_time, partition, offset)


@dataclass
class EventTimeState:
    delay: timedelta
    max_event_time: datetime | None = None

    @property
    def watermark(self) -> datetime | None:
        return None if self.max_event_time is None else self.max_event_time - self.delay

    def advance(self, event_times: Iterable[datetime]) -> None:
        """Move the watermark with the stored events' times."""
        latest = max(event_times, default=None)
        if latest is not None and (self.max_event_time is None or latest > self.max_event_time):
            self.max_event_time = latest


def first_copies(rows: Iterable[Lineage]) -> tuple[list[Lineage], list[Lineage]]:
    """Split a batch's rows into the first copy of each event id, by (partition,
    offset), and the later copies, which are duplicates."""
    keep: list[Lineage] = []
    duplicates: list[Lineage] = []
    in_batch: set[str] = set()
    for row in sorted(rows, key=lambda r: (r[2], r[3])):
        if row[0] in in_batch:
            duplicates.append(row)
        else:
            in_batch.add(row[0])
            keep.append(row)
    return keep, duplicates


def time_ranges(times: Iterable[datetime], gap: timedelta) -> list[tuple[datetime, datetime]]:
    """The times as a few [low, high] ranges, split where two neighbours are more than
    `gap` apart: a look-up bounded by them skips the files in between (a batch's late
    events lie far behind its on-time ones)."""
    ranges: list[tuple[datetime, datetime]] = []
    for t in sorted(times):
        if ranges and t - ranges[-1][1] <= gap:
            ranges[-1] = (ranges[-1][0], t)
        else:
            ranges.append((t, t))
    return ranges
