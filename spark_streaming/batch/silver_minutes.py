"""Silver's event ids of old event-time minutes, read once and kept current: the
look-up `dedup.decide` makes for candidates older than the index horizon.

Late events arrive for the same few minutes of event time batch after batch (a till
uploading what it sold offline, a replayed range). Every silver file written since
holds a few of them, so its event-time statistics span those minutes too, and a
look-up bounded by event time still read every recent file, once per batch and more
with each batch. Here a minute is read from silver the first time a candidate needs
it; what the job stores into it afterwards is added as it is stored; the minutes used
last are kept, the others read again when needed.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta

import pyarrow as pa
import pyarrow.compute as pc

from spark_streaming.batch.dedup import MINUTE_US, Position, micros, moment
from spark_streaming.batch.records import runs

CACHED_MINUTES = 10
# what a silver table's rows say of an event's identity, time and Kafka position
SCHEMA = pa.schema(
    [
        ("event_id", pa.string()),
        ("event_time", pa.timestamp("us", tz="UTC")),
        ("kafka_partition", pa.int32()),
        ("kafka_offset", pa.int64()),
    ]
)
COLUMNS = SCHEMA.names

# a SQL predicate over silver -> the family's silver rows it selects, COLUMNS only
# (the rows of every silver table of the family, together)
ReadSilver = Callable[[str], pa.Table]


class SilverMinutes:
    """A `dedup.StoredLookup` over one family's silver tables."""

    def __init__(self, read: ReadSilver, capacity: int = CACHED_MINUTES) -> None:
        self._read = read
        self._capacity = capacity
        self._minutes: OrderedDict[int, pa.Table] = OrderedDict()
        self.reads = 0  # look-ups that went to silver

    def __call__(
        self, ids: set[str], ranges: list[tuple[datetime, datetime]]
    ) -> dict[str, set[Position]]:
        """Where silver holds `ids`, among the events of the minutes `ranges` touch."""
        minutes = sorted(
            {m for low, high in ranges for m in range(_minute(low), _minute(high) + 1)}
        )
        missing = [m for m in minutes if m not in self._minutes]
        if missing:
            self._load(missing)
        wanted = pa.array(sorted(ids), pa.string())
        found: dict[str, set[Position]] = {}
        for m in minutes:
            self._minutes.move_to_end(m)
            rows = self._minutes[m]
            hits = rows.filter(pc.is_in(rows["event_id"], value_set=wanted))
            for event_id, partition, offset in zip(
                hits["event_id"].to_pylist(),
                hits["kafka_partition"].to_pylist(),
                hits["kafka_offset"].to_pylist(),
                strict=True,
            ):
                found.setdefault(event_id, set()).add((partition, offset))
        while len(self._minutes) > max(self._capacity, len(minutes)):
            self._minutes.popitem(last=False)
        return found

    def remember(self, stored: pa.Table) -> None:
        """Events now stored in silver (COLUMNS): those of a kept minute join it."""
        if not self._minutes or stored.num_rows == 0:
            return
        minute = _minutes_of(stored)
        kept = pc.is_in(minute, value_set=pa.array(list(self._minutes), pa.int64()))
        if not pc.any(kept).as_py():
            return
        rows = stored.select(COLUMNS).cast(SCHEMA).filter(kept)
        for m, joining in _by_minute(rows, minute.filter(kept)):
            self._minutes[m] = pa.concat_tables([self._minutes[m], joining])

    def _load(self, minutes: list[int]) -> None:
        self.reads += 1
        rows = self._read(_predicate(minutes)).cast(SCHEMA)
        loaded = dict(_by_minute(rows, _minutes_of(rows)))
        empty = rows.slice(0, 0)
        for m in minutes:
            self._minutes[m] = loaded.get(m, empty)


def _minute(at: datetime) -> int:
    return micros(at) // MINUTE_US


def _minutes_of(rows: pa.Table) -> pa.Array:
    event_us = pc.cast(rows["event_time"], pa.int64())
    # event times are after 1970: truncating division is the floor
    return pc.divide(event_us, MINUTE_US).combine_chunks()


def _by_minute(rows: pa.Table, minute: pa.Array) -> Iterable[tuple[int, pa.Table]]:
    order = pc.sort_indices(minute)
    return runs(rows.take(order), minute.take(order))


def _predicate(minutes: list[int]) -> str:
    """The minutes as event-time ranges, neighbouring minutes in one range; the date
    bounds let the read skip the other days' partitions."""
    spans: list[list[int]] = []
    for m in minutes:
        if spans and m == spans[-1][1]:
            spans[-1][1] = m + 1
        else:
            spans.append([m, m + 1])
    terms = []
    for first, end in spans:
        low, high = moment(first * MINUTE_US), moment(end * MINUTE_US)
        last_day = (high - timedelta(microseconds=1)).date()
        terms.append(
            f"(event_time >= '{low.isoformat()}' AND event_time < '{high.isoformat()}'"
            f" AND event_date >= '{low.date().isoformat()}'"
            f" AND event_date <= '{last_day.isoformat()}')"
        )
    return " OR ".join(terms)
