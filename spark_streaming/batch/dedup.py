"""De-duplication by event_id, and the watermark, as small state kept by the driver.

A producer retry or a replayed Kafka range resends an event with the same event_id;
only its first copy may reach silver and gold. `EventIndex` holds the ids of a
family's stored events whose event time lies within the index horizon of the newest
one (twice the watermark delay), whatever event time their resends carry: an id found
there is a duplicate even when the resend's event_time changed. A candidate older than
the horizon (a late resend) is looked up in silver instead, bounded by its own event
time, which is what stays exact for events that old (`silver_minutes` keeps the minutes
it read).

The same id at the same Kafka position is the record itself, replayed after a crash,
not a duplicate. The index is rebuilt from silver when the job starts.

Event times are integer microseconds since the epoch here (Arrow's own representation):
a batch of 100,000 events is decided without creating a datetime per event.

The watermark follows Spark's semantics: the one used for micro-batch N is the largest
event time stored before N minus the delay, and it never moves back. It is recovered
from the last batch the lake recorded as complete (ops.stream_batches), never from a
table a half-committed batch may have written already.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

Position = tuple[int, int]  # (Kafka partition, offset)
# (event_id, event time in µs since the epoch, partition, offset)
Candidate = tuple[str, int, int, int]
# ids stored in silver among `ids`, looked up in the given event-time ranges: id -> positions
StoredLookup = Callable[[set[str], list[tuple[datetime, datetime]]], dict[str, set[Position]]]

MINUTE_US = 60_000_000  # ids are evicted, and silver is read, a minute of event time at a time


def micros(moment: datetime) -> int:
    """µs since the epoch of an aware (or naive UTC) datetime."""
    aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return round(aware.timestamp() * 1_000_000)


def moment(us: int) -> datetime:
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=us)


@dataclass
class EventTimeState:
    delay: timedelta
    max_event_time: datetime | None = None

    @property
    def watermark(self) -> datetime | None:
        return None if self.max_event_time is None else self.max_event_time - self.delay

    def advance(self, event_times: Iterable[datetime]) -> None:
        latest = max(event_times, default=None)
        if latest is not None and (self.max_event_time is None or latest > self.max_event_time):
            self.max_event_time = latest


@dataclass
class EventIndex:
    """Event id -> Kafka position of the stored first copy, for recent event times."""

    horizon: timedelta
    _positions: dict[str, Position] = field(default_factory=dict)
    _buckets: dict[int, list[str]] = field(default_factory=lambda: defaultdict(list))
    # events older than this (µs) may have left the index (None: it holds every one)
    floor: int | None = None

    def __len__(self) -> int:
        return len(self._positions)

    def covers(self, event_us: int) -> bool:
        return self.floor is None or event_us >= self.floor

    def add(self, stored: Iterable[Candidate]) -> None:
        positions, buckets = self._positions, self._buckets
        for event_id, event_us, partition, offset in stored:
            if event_id not in positions:
                positions[event_id] = (partition, offset)
                buckets[event_us // MINUTE_US].append(event_id)

    def evict_before(self, newest: datetime | None) -> None:
        """Forget the ids of events older than `newest` minus the horizon."""
        if newest is None:
            return
        floor = micros(newest - self.horizon)
        if self.floor is not None and floor <= self.floor:
            return
        self.floor = floor
        for bucket in [b for b in self._buckets if b < floor // MINUTE_US]:
            for event_id in self._buckets.pop(bucket):
                self._positions.pop(event_id, None)

    def position_of(self, event_id: str) -> Position | None:
        return self._positions.get(event_id)


@dataclass(frozen=True)
class Decision:
    """Which of a batch's valid events are stored, and which are duplicates."""

    keep: list[Candidate]
    duplicates: list[Candidate]


def decide(
    candidates: Sequence[Candidate],
    index: EventIndex,
    stored_in_silver: StoredLookup,
    gap: timedelta,
) -> Decision:
    """The first copy of each event id in Kafka order (partition, then offset), unless
    an earlier batch stored it from another position (per the index, or per silver for
    events older than the index horizon)."""
    keep: list[Candidate] = []
    duplicates: list[Candidate] = []
    in_batch: set[str] = set()
    older: list[Candidate] = []
    position_of = index._positions.get
    for row in sorted(candidates, key=_kafka_order):
        event_id, event_us, partition, offset = row
        if event_id in in_batch:
            duplicates.append(row)
            continue
        in_batch.add(event_id)
        stored_at = position_of(event_id)
        if stored_at is not None:
            (keep if stored_at == (partition, offset) else duplicates).append(row)
        elif index.floor is None or event_us >= index.floor:
            keep.append(row)
        else:
            older.append(row)
    if older:
        ranges = time_ranges((moment(r[1]) for r in older), gap)
        found = stored_in_silver({r[0] for r in older}, ranges)
        for row in older:
            positions = found.get(row[0], set())
            elsewhere = positions and (row[2], row[3]) not in positions
            (duplicates if elsewhere else keep).append(row)
    return Decision(keep, duplicates)


def _kafka_order(row: Candidate) -> tuple[int, int]:
    return row[2], row[3]


def time_ranges(times: Iterable[datetime], gap: timedelta) -> list[tuple[datetime, datetime]]:
    """The times as a few [low, high] ranges, split where two neighbours are more than
    `gap` apart: a look-up bounded by them skips the files in between."""
    ranges: list[tuple[datetime, datetime]] = []
    for t in sorted(times):
        if ranges and t - ranges[-1][1] <= gap:
            ranges[-1] = (ranges[-1][0], t)
        else:
            ranges.append((t, t))
    return ranges


def candidates_of(
    ids: Sequence[str], times_us: Sequence[int], partitions: Sequence[int], offsets: Sequence[int]
) -> list[Candidate]:
    return list(zip(ids, times_us, partitions, offsets, strict=True))
