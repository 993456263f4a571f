"""A micro-batch's records in the driver: the Arrow table the batch's Spark job brought
back, stamped with the time the batch was read and split into what each table gets."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from retail_lakehouse.contracts import EventFamily
from spark_streaming.transforms.rules import (
    FUTURE_EVENT_TIME,
    MAX_EVENT_AHEAD_OF_ARRIVAL,
)

BRONZE_COLUMNS = (
    "key",
    "value",
    "topic",
    "partition",
    "offset",
    "kafka_timestamp",
    "kafka_timestamp_type",
    "ingested_at",
    "ingest_date",
)
QUARANTINE_COLUMNS = (
    "family",
    "topic",
    "partition",
    "offset",
    "kafka_timestamp",
    "key",
    "raw_payload",
    "reason",
    "reason_detail",
    "event_id",
    "event_type",
    "ingested_at",
    "ingest_date",
)
# where an event came from and when we read it, carried into every silver row
LINEAGE_COLUMNS = ("kafka_partition", "kafka_offset", "kafka_timestamp", "ingested_at")

_TIMESTAMP = pa.timestamp("us", tz="UTC")


def stamped(records: pa.Table, ingested_at: datetime) -> pa.Table:
    """The records with the batch's read time (`ingested_at` and its UTC `ingest_date`),
    and with the one check that needs it: an event further ahead of the time it was read
    than clock skew explains is quarantined as future_event_time. Spark checked the
    Kafka timestamp already; a record arrived at the earlier of the two."""
    n = records.num_rows
    read_at = pa.scalar(ingested_at, _TIMESTAMP)
    records = records.append_column("ingested_at", pa.repeat(read_at, n))
    # the UTC date, whatever zone the read time is given in (a naive one is UTC already)
    day = (ingested_at.astimezone(UTC) if ingested_at.tzinfo else ingested_at).date()
    records = records.append_column("ingest_date", pa.repeat(pa.scalar(day, pa.date32()), n))
    limit = pc.add(read_at, pa.scalar(MAX_EVENT_AHEAD_OF_ARRIVAL, pa.duration("us")))
    ahead = pc.and_kleene(pc.is_null(records["reason"]), pc.greater(records["event_time"], limit))
    ahead = pc.fill_null(ahead, False)
    if not pc.any(ahead).as_py():
        return records
    records = _set(records, "reason", pc.if_else(ahead, FUTURE_EVENT_TIME, records["reason"]))
    records = _set(
        records, "reason_detail", pc.if_else(ahead, "event_time", records["reason_detail"])
    )
    # only the payloads that now go to quarantine, not the whole batch's; a valid
    # record's payload is valid UTF-8 (it parsed), so it casts as it is
    moved = pc.if_else(ahead, records["value"], pa.scalar(None, pa.binary()))
    payload = pc.cast(moved, pa.string())
    return _set(records, "raw_payload", pc.if_else(ahead, payload, records["raw_payload"]))


def by_topic(records: pa.Table, topics: Iterable[str]) -> dict[str, pa.Table]:
    """Each topic's records, in the batch's order. A batch holds each Kafka partition's
    records in one run, so a topic's are a few slices of the batch, taken without
    copying (a filter copied every column, the raw payloads included)."""
    slices: dict[str, list[pa.Table]] = {topic: [] for topic in topics}
    for topic, run in runs(records, records["topic"].combine_chunks()):
        if topic in slices:
            slices[topic].append(run)
    return {
        topic: pa.concat_tables(parts) if parts else records.slice(0, 0)
        for topic, parts in slices.items()
    }


def runs(rows: pa.Table, key: pa.Array) -> Iterator[tuple[Any, pa.Table]]:
    """The rows in runs of neighbours with the same `key` (one value per row): each
    run's key and its rows, a slice of `rows`, not a copy."""
    if rows.num_rows == 0:
        return
    encoded = pc.run_end_encode(key)
    start = 0
    for end, value in zip(encoded.run_ends.to_pylist(), encoded.values.to_pylist(), strict=True):
        yield value, rows.slice(start, end - start)
        start = end


def bronze_rows(records: pa.Table) -> pa.Table:
    """Every record as received, with its Kafka metadata and read time."""
    return records.select(list(BRONZE_COLUMNS))


def quarantine_rows(records: pa.Table, families: Mapping[str, EventFamily]) -> pa.Table:
    """The rejected records of every topic (`families`: topic -> family), with their
    raw payload, reason, and whatever could be read of their envelope."""
    rejected = records.filter(pc.is_valid(records["reason"]))
    family_of = {topic: family.name for topic, family in families.items()}
    names = pa.array([family_of.get(t) for t in rejected["topic"].to_pylist()], pa.string())
    rejected = rejected.append_column("family", names)
    return rejected.select(list(QUARANTINE_COLUMNS))


def valid_events(records: pa.Table, family: EventFamily) -> pa.Table:
    """The valid events of one family's records: the event's own fields as columns,
    then where Kafka stored it and when it was read."""
    # only the columns read below are filtered: the others hold the raw payloads
    lineage = ["partition", "offset", "kafka_timestamp", "ingested_at"]
    valid = records.select([family.name, *lineage]).filter(pc.is_null(records["reason"]))
    event = valid[family.name].combine_chunks()
    assert isinstance(event, pa.StructArray)
    columns = {event.type.field(i).name: event.field(i) for i in range(event.type.num_fields)}
    columns |= {
        "kafka_partition": valid["partition"],
        "kafka_offset": valid["offset"],
        "kafka_timestamp": valid["kafka_timestamp"],
        "ingested_at": valid["ingested_at"],
    }
    return pa.table(columns)


def is_late(events: pa.Table, watermark: datetime | None) -> pa.ChunkedArray | pa.Array:
    """Whether each event is older than the watermark, so its minute windows are final
    already. Before the first watermark nothing is late."""
    if watermark is None:
        return pa.array([False] * events.num_rows, pa.bool_())
    return pc.fill_null(pc.less(events["event_time"], pa.scalar(watermark, _TIMESTAMP)), False)


def _set(table: pa.Table, name: str, column: pa.Array | pa.ChunkedArray) -> pa.Table:
    return table.set_column(table.schema.get_field_index(name), name, column)


def offsets_after(records: pa.Table) -> dict[str, dict[str, int]]:
    """{topic: {partition: next offset}} of the records: where the batch ends, in the
    JSON shape of Spark's startingOffsets."""
    if records.num_rows == 0:
        return {}
    grouped = records.group_by(["topic", "partition"]).aggregate([("offset", "max")])
    ends: dict[str, dict[str, int]] = {}
    for row in grouped.to_pylist():
        ends.setdefault(row["topic"], {})[str(row["partition"])] = row["offset_max"] + 1
    return ends
