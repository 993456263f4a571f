"""What the lake remembers of the pipeline, read when the job starts.

Every commit a micro-batch makes carries, as its user metadata, the Kafka offsets the
pipeline had read up to after that batch (`commit_note`). The batch's ops rows are
committed last, so the newest ops row of each family says where every table of that
family is complete. From these the job knows, without its checkpoint:

- the watermark and newest event time of each family (`last_batches`);
- where a new checkpoint must start reading (`starting_offsets`), so that a lost or
  reset checkpoint resumes instead of reading every topic again from the start;
- how far each table got in a batch that did not finish (`table_marks`): a table that
  already holds a record's rows is not given them again.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from retail_lakehouse import tables
from retail_lakehouse.logs import kv
from retail_lakehouse.tables import TableSpec

log = logging.getLogger(__name__)

Offsets = dict[str, dict[str, int]]  # {topic: {partition: next offset}}, Spark's JSON shape

EARLIEST, LATEST = -2, -1  # Spark's markers in a startingOffsets map


def commit_note(query_name: str, batch_id: int, offsets: Offsets) -> str:
    return json.dumps(
        {"query": query_name, "batch": batch_id, "offsets": offsets},
        sort_keys=True,
        separators=(",", ":"),
    )


def read_note(note: str, query_name: str) -> Offsets | None:
    try:
        parsed = json.loads(note)
    except ValueError:
        return None  # somebody else's note on the same table
    if not isinstance(parsed, dict) or parsed.get("query") != query_name:
        return None
    offsets = parsed.get("offsets")
    return offsets if isinstance(offsets, dict) else None


def last_batches(writer: Any, query_name: str) -> dict[str, dict[str, Any]]:
    """The newest complete batch's ops row of each family ({} for a new lake)."""
    rows = writer.read_arrow(
        tables.STREAM_BATCHES,
        ["family", "batch_id", "started_at", "max_event_time", "end_offsets"],
        f"query_name = '{query_name}'",
    )
    if rows is None or rows.num_rows == 0:
        return {}
    newest: dict[str, dict[str, Any]] = {}
    ordered = rows.sort_by([("started_at", "ascending"), ("batch_id", "ascending")])
    for row in ordered.to_pylist():
        newest[row["family"]] = row
    return newest


def recorded_offsets(batches: Mapping[str, Mapping[str, Any]]) -> Offsets:
    offsets: Offsets = {}
    for row in batches.values():
        for topic, ends in json.loads(row.get("end_offsets") or "{}").items():
            offsets.setdefault(topic, {}).update(ends)
    return offsets


def table_marks(writer: Any, specs: Iterable[TableSpec], query_name: str) -> dict[str, Offsets]:
    """Per table, the offsets its newest commit by this pipeline had read up to."""
    marks: dict[str, Offsets] = {}
    for spec in specs:
        for note in writer.user_metadata(spec):
            offsets = read_note(note, query_name)
            if offsets is not None:
                marks[spec.qualified_name] = offsets
                break
    return marks


def starting_offsets(
    recorded: Offsets, partitions: Mapping[str, Iterable[int]], default: str
) -> str | None:
    """Spark's startingOffsets for a query over `partitions` ({topic: partition ids}):
    where the lake recorded the pipeline stopped, and `default` (earliest or latest)
    for what it never read. None when the lake recorded nothing of these topics."""
    if not any(topic in recorded for topic in partitions):
        return None
    never_read = LATEST if default == "latest" else EARLIEST
    spec: dict[str, dict[str, int]] = {}
    for topic, ids in partitions.items():
        ends = recorded.get(topic)
        # a partition added since the lake's record is read from its start
        spec[topic] = {
            str(p): ends.get(str(p), EARLIEST) if ends is not None else never_read
            for p in sorted(ids)
        }
    return json.dumps(spec, sort_keys=True)


def beyond(
    rows: pa.Table,
    topic: str,
    mark: Offsets | None,
    partition_column: str = "partition",
    offset_column: str = "offset",
) -> pa.Table:
    """The rows of `topic` at or past a table's mark: those it does not hold yet."""
    ends = (mark or {}).get(topic)
    if not ends or rows.num_rows == 0:
        return rows
    needed = pa.array([ends.get(str(p), 0) for p in rows[partition_column].to_pylist()], pa.int64())
    kept = rows.filter(pc.greater_equal(rows[offset_column], needed))
    if kept.num_rows < rows.num_rows:
        log.info(kv("rows_already_in_table", topic=topic, skipped=rows.num_rows - kept.num_rows))
    return kept


def passed(mark: Offsets, read: Offsets) -> bool:
    """Whether the pipeline has read past every offset of a mark (the mark is spent)."""
    return all(
        read.get(topic, {}).get(partition, 0) >= end
        for topic, ends in mark.items()
        for partition, end in ends.items()
    )
