"""What changed in a Delta table between two versions, as rows to upsert or delete.

A first load (or a full refresh) reads the table as it is at its current version, in
bounded chunks. Every later load reads the change data feed between the version it
loaded last and the current one (delta-rs `DeltaTable.load_cdf`), a group of commits
at a time, and keeps one net change per natural key:

- a commit that only compacts files (OPTIMIZE, dataChange=false) yields no change, so
  compaction never re-stages a row;
- a row deleted in the lake is staged as a delete, so deletes reach the warehouse;
- a row a MERGE rewrote without changing it (a table written without the change data
  feed reports each rewritten file as a delete plus an insert) nets to nothing;
- each staged row carries the commit version it is as of, which the warehouse MERGE
  compares with the landed row's version, so an older change never overwrites a newer.

When the feed cannot be read (the commits' files were vacuumed), `ChangesUnavailable`
tells the loader to reload the table whole instead.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from deltalake import DeltaTable
from deltalake.exceptions import TableNotFoundError

from loaders.warehouse_types import as_json_text, is_nested
from retail_lakehouse import lake
from retail_lakehouse.logs import kv
from retail_lakehouse.settings import Settings
from retail_lakehouse.tables import TableSpec

log = logging.getLogger(__name__)

DEFAULT_CHUNK_ROWS = 100_000
# commits read from the change data feed at once: one streaming micro-batch is one
# commit, so this bounds memory to about that many batches' changed rows
CDF_COMMITS_PER_READ = 200

# the change data feed's own columns, and each change kind's place within one commit
CHANGE_TYPE, COMMIT_VERSION = "_change_type", "_commit_version"
_BEFORE = {"update_preimage": 0, "delete": 1}
_AFTER = {"insert": 2, "update_postimage": 2}

Mode = Literal["snapshot", "changes"]


class ChangesUnavailable(RuntimeError):
    """The change data feed of a version range cannot be read; reload the table whole."""


@dataclass(frozen=True)
class ChangeChunk:
    """Rows in the table's own schema, the Delta version each is as of, and whether the
    row's key is gone as of that version (a delete) rather than upserted."""

    rows: pa.Table
    versions: pa.Array
    deletes: pa.Array

    @property
    def num_rows(self) -> int:
        return self.rows.num_rows


@dataclass(frozen=True)
class TableChanges:
    """How to bring a warehouse copy from `from_version` to `to_version`."""

    spec: TableSpec
    from_version: int | None  # None: nothing loaded yet (snapshot)
    to_version: int
    schema: pa.Schema
    table: DeltaTable
    mode: Mode

    @property
    def is_up_to_date(self) -> bool:
        return self.mode == "changes" and self.from_version == self.to_version

    def chunks(self, chunk_rows: int = DEFAULT_CHUNK_ROWS) -> Iterator[ChangeChunk]:
        if self.mode == "snapshot":
            yield from self._snapshot(chunk_rows)
        else:
            yield from self._changes(chunk_rows)

    def _snapshot(self, chunk_rows: int) -> Iterator[ChangeChunk]:
        """Every live row at to_version, never the whole table in memory at once; files
        oldest first, so of two rows with one key in an append-only table the later wins."""
        dataset = self.table.to_pyarrow_dataset()
        fragments = {fragment.path: fragment for fragment in dataset.get_fragments()}
        for path in _files_oldest_first(self.table):
            # threads off: the dataset thread pool can abort the interpreter at exit
            for batch in fragments[path].to_batches(
                schema=dataset.schema, batch_size=chunk_rows, use_threads=False
            ):
                if not batch.num_rows:
                    continue
                rows = pa.Table.from_batches([conform(batch, self.schema)])
                yield ChangeChunk(
                    rows,
                    pa.array([self.to_version] * rows.num_rows, pa.int64()),
                    pa.array([False] * rows.num_rows, pa.bool_()),
                )

    def _changes(self, chunk_rows: int) -> Iterator[ChangeChunk]:
        assert self.from_version is not None
        first = self.from_version + 1
        while first <= self.to_version:
            last = min(first + CDF_COMMITS_PER_READ - 1, self.to_version)
            net = net_changes(self._read_feed(first, last), self.spec.natural_keys, self.schema)
            for start in range(0, net.num_rows, chunk_rows):
                yield ChangeChunk(
                    net.rows.slice(start, chunk_rows),
                    net.versions.slice(start, chunk_rows),
                    net.deletes.slice(start, chunk_rows),
                )
            first = last + 1

    def _read_feed(self, first: int, last: int) -> pa.Table:
        try:
            reader = self.table.load_cdf(starting_version=first, ending_version=last)
            return pa.table(reader.read_all())
        except Exception as error:  # delta-rs raises several kinds for a missing file
            log.warning(
                kv(
                    "change_feed_unavailable",
                    table=self.spec.qualified_name,
                    versions=f"{first}-{last}",
                    error=str(error)[:200],
                )
            )
            raise ChangesUnavailable(
                f"{self.spec.qualified_name}: the changes of versions {first}-{last} cannot "
                "be read (vacuumed?)"
            ) from error


def _files_oldest_first(table: DeltaTable) -> list[str]:
    """The live data files by modification time, then path."""
    actions = pa.table(table.get_add_actions(flatten=True))
    paths = actions.column("path").to_pylist()
    times = actions.column("modification_time").to_pylist()
    return [path for _, path in sorted(zip(times, paths, strict=True), key=lambda p: (p[0], p[1]))]


def net_changes(feed: pa.Table, keys: tuple[str, ...], schema: pa.Schema) -> ChangeChunk:
    """One change per natural key from change data feed rows: the key's state after its
    last commit in the feed (a delete when it ends deleted), dropped when it ends as it
    began (a rewritten but unchanged row)."""
    if feed.num_rows == 0:
        return ChangeChunk(schema.empty_table(), pa.array([], pa.int64()), pa.array([], pa.bool_()))
    kinds = feed.column(CHANGE_TYPE).cast(pa.string()).to_pylist()
    rank = pa.array([_BEFORE.get(k, _AFTER.get(k, 2)) for k in kinds], pa.int8())
    rows = conform_table(feed, schema)
    versions = feed.column(COMMIT_VERSION).cast(pa.int64())
    ordered = pc.sort_indices(
        pa.table({"version": versions, "rank": rank, "at": pa.array(range(feed.num_rows))}),
        sort_keys=[("version", "ascending"), ("rank", "ascending"), ("at", "ascending")],
    )
    # position of each row in commit order, then per key its first and last position
    position = _inverse(ordered)
    grouped = (
        rows.select(list(keys))
        .append_column("_pos", position)
        .group_by(list(keys), use_threads=False)
        .aggregate([("_pos", "min"), ("_pos", "max")])
    )
    first = pc.take(ordered, grouped.column("_pos_min"))
    last = pc.take(ordered, grouped.column("_pos_max"))
    last_rank = pc.take(rank, last)
    is_delete = pc.less(last_rank, 2)
    began_before = pc.and_(pc.not_equal(first, last), pc.less(pc.take(rank, first), 2))
    unchanged = pc.and_(
        pc.and_(began_before, pc.invert(is_delete)),
        _same_values(rows, first, last, [n for n in schema.names if n not in keys]),
    )
    keep = pc.invert(unchanged)
    chosen = pc.filter(last, keep)
    # commit order, so a later chunk never holds an older change of the same key
    chosen = pc.take(chosen, pc.sort_indices(pc.take(position, chosen)))
    return ChangeChunk(
        rows.take(chosen), pc.take(versions, chosen), pc.take(pc.less(rank, 2), chosen)
    )


def _inverse(permutation: pa.Array) -> pa.Array:
    """inverse[permutation[i]] = i"""
    inverse = np.empty(len(permutation), dtype=np.int64)
    inverse[permutation.to_numpy()] = np.arange(len(permutation), dtype=np.int64)
    return pa.array(inverse)


def _same_values(rows: pa.Table, first: pa.Array, last: pa.Array, columns: list[str]) -> pa.Array:
    """Per key: are the values at its first and last change equal (nulls equal nulls)?"""
    same = pa.array([True] * len(first), pa.bool_())
    for name in columns:
        column = rows.column(name)
        if is_nested(column.type):
            column = as_json_text(column)
        a, b = pc.take(column, first), pc.take(column, last)
        equal = pc.or_kleene(pc.equal(a, b), pc.and_(pc.is_null(a), pc.is_null(b)))
        same = pc.and_(same, pc.fill_null(equal, False))
    return same


def conform(batch: pa.RecordBatch, schema: pa.Schema) -> pa.RecordBatch:
    """The batch in the table's own column order and types (partition columns included)."""
    arrays = [batch.column(field.name).cast(field.type) for field in schema]
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def conform_table(rows: pa.Table, schema: pa.Schema) -> pa.Table:
    """`conform` for a table: the change feed answers with view types and extra columns."""
    return pa.Table.from_arrays(
        [rows.column(field.name).cast(field.type) for field in schema], schema=schema
    )


def open_table(settings: Settings, spec: TableSpec) -> DeltaTable | None:
    """The table at its latest version, or None when the lake has not written it yet."""
    try:
        return DeltaTable(
            lake.uri(settings, spec), storage_options=lake.storage_options(settings) or None
        )
    except TableNotFoundError:
        return None


def table_schema(table: DeltaTable) -> pa.Schema:
    return pa.schema(table.schema().to_arrow())


def changes_since(spec: TableSpec, table: DeltaTable, from_version: int | None) -> TableChanges:
    """The changes after `from_version`, or the whole table when there is no usable
    starting point (never loaded, or the lake table was recreated behind the loader)."""
    to_version = table.version()
    mode: Mode = "changes"
    if from_version is None:
        mode = "snapshot"
    elif from_version > to_version:
        log.warning(kv("delta_version_regressed", table=spec.qualified_name))
        from_version, mode = None, "snapshot"
    return TableChanges(spec, from_version, to_version, table_schema(table), table, mode)


def snapshot_of(spec: TableSpec, table: DeltaTable, from_version: int | None) -> TableChanges:
    """The whole table at its current version, whatever was loaded before (full refresh)."""
    return TableChanges(spec, from_version, table.version(), table_schema(table), table, "snapshot")
