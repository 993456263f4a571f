"""What changed in a Delta table between two versions, read in bounded chunks.

The lake is written without change data feed, so the change set is read from the
add actions: the data files live at `to_version` that were not live at `from_version`.
Files added and rewritten in between (a MERGE into a gold table) count once, through
their live successor, and a MERGE's rewritten file brings back unchanged rows too; that
is harmless because the warehouse upsert is idempotent on the natural key.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass

import pyarrow as pa
from deltalake import DeltaTable
from deltalake.exceptions import DeltaError, TableNotFoundError

from retail_lakehouse import lake
from retail_lakehouse.logs import kv
from retail_lakehouse.settings import Settings
from retail_lakehouse.tables import TableSpec

log = logging.getLogger(__name__)

DEFAULT_CHUNK_ROWS = 100_000


@dataclass(frozen=True)
class TableChanges:
    """The files to read to bring a warehouse copy from `from_version` to `to_version`."""

    spec: TableSpec
    from_version: int | None  # None: nothing loaded yet
    to_version: int
    schema: pa.Schema
    files: tuple[str, ...]  # oldest first, so a later file's row wins a key
    rows: int
    table: DeltaTable

    def chunks(self, chunk_rows: int = DEFAULT_CHUNK_ROWS) -> Iterator[pa.RecordBatch]:
        """Record batches of at most `chunk_rows` rows, never the whole table at once."""
        if not self.files:
            return
        dataset = self.table.to_pyarrow_dataset()
        by_path = {fragment.path: fragment for fragment in dataset.get_fragments()}
        for path in self.files:
            fragment = by_path[path]
            # threads off: the dataset thread pool can abort the interpreter at exit
            for batch in fragment.to_batches(
                schema=dataset.schema, batch_size=chunk_rows, use_threads=False
            ):
                if batch.num_rows:
                    yield conform(batch, self.schema)


def conform(batch: pa.RecordBatch, schema: pa.Schema) -> pa.RecordBatch:
    """The batch in the table's own column order and types (partition columns included)."""
    arrays = [batch.column(field.name).cast(field.type) for field in schema]
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


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


def changes_since(
    settings: Settings, spec: TableSpec, table: DeltaTable, from_version: int | None
) -> TableChanges:
    """The live files at the table's current version that `from_version` did not have."""
    to_version = table.version()
    live = _live_files(table)
    if from_version is None or from_version > to_version:
        before: dict[str, tuple[int, int]] = {}
        if from_version is not None:
            # the table was recreated under the warehouse: reload it whole (idempotent)
            log.warning(kv("delta_version_regressed", table=spec.qualified_name))
            from_version = None
    elif from_version == to_version:
        before = live
    else:
        try:
            old = DeltaTable(
                lake.uri(settings, spec),
                version=from_version,
                storage_options=lake.storage_options(settings) or None,
            )
            before = _live_files(old)
        except DeltaError as error:
            # that version's log was cleaned up: reload every live file (idempotent)
            log.warning(kv("delta_version_gone", table=spec.qualified_name, error=str(error)[:120]))
            before = {}
    added = sorted((path for path in live if path not in before), key=lambda p: (live[p][0], p))
    return TableChanges(
        spec=spec,
        from_version=from_version,
        to_version=to_version,
        schema=table_schema(table),
        files=tuple(added),
        rows=sum(live[p][1] for p in added),
        table=table,
    )


def _live_files(table: DeltaTable) -> dict[str, tuple[int, int]]:
    """path -> (modification time, row count) for every data file of this version."""
    actions = pa.table(table.get_add_actions(flatten=True))
    paths = actions.column("path").to_pylist()
    times = actions.column("modification_time").to_pylist()
    rows = (
        actions.column("num_records").to_pylist()
        if "num_records" in actions.column_names
        else [0] * len(paths)
    )
    return {p: (int(t or 0), int(n or 0)) for p, t, n in zip(paths, times, rows, strict=True)}
