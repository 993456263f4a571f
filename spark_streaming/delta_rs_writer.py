"""Delta tables written by delta-rs from a micro-batch's Arrow rows: no JVM involved.

Each commit carries a Delta app transaction (app_id, batch id), so a batch replayed
after a crash is skipped instead of written twice, and the batch's Kafka end offsets
as its user metadata. Merge expressions run in DataFusion: `CAST(x AS DECIMAL(18,2))` and
`ROUND(x, 2)` round half away from zero like Spark's HALF_UP; DataFusion keeps only 6
decimal places of a decimal quotient where Spark keeps more, which cannot change a
result rounded to 2 places (truncating never crosses a .xx5 boundary).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc
from deltalake import CommitProperties, DeltaTable, QueryBuilder, Transaction, write_deltalake
from deltalake.exceptions import CommitFailedError, DeltaError, TableNotFoundError

from retail_lakehouse import lake
from retail_lakehouse.logs import kv

if TYPE_CHECKING:
    from retail_lakehouse.settings import Settings
    from retail_lakehouse.tables import TableSpec
    from spark_streaming.lake_writer import BatchTxn, MergeSpec

log = logging.getLogger(__name__)

# Default vacuum retention: a week, like Delta's own default
RETENTION_HOURS = 168
USER_METADATA = "userMetadata"  # commitInfo's field for a writer's own note

_creation_locks: dict[str, threading.Lock] = {}
_creation_locks_guard = threading.Lock()

Commit = Callable[[DeltaTable, pa.Table, CommitProperties], None]


class DeltaRsWriter:
    """LakeWriter over delta-rs, for a local folder or s3:// (S3, MinIO)."""

    name = "delta-rs"

    def __init__(self, settings: Settings, *, max_attempts: int = 5) -> None:
        self.settings = settings
        self.storage_options = lake.storage_options(settings)
        self.max_attempts = max_attempts
        # loaded tables, one per (thread, uri): a reload replays only the new log entries
        self._tables: dict[tuple[int, str], DeltaTable] = {}

    def uri(self, spec: TableSpec) -> str:
        return delta_rs_uri(lake.uri(self.settings, spec))

    def exists(self, spec: TableSpec) -> bool:
        return DeltaTable.is_deltatable(self.uri(spec), self.storage_options)

    def is_committed(self, spec: TableSpec, txn: BatchTxn) -> bool:
        return _has_committed(self._load(spec), txn)

    def append(self, spec: TableSpec, rows: pa.Table, txn: BatchTxn) -> bool:
        return self._commit(spec, rows, txn, _append)

    def merge(self, spec: TableSpec, rows: pa.Table, merge: MergeSpec, txn: BatchTxn) -> bool:
        def upsert(table: DeltaTable, batch: pa.Table, props: CommitProperties) -> None:
            merger = table.merge(
                batch,
                predicate=merge.predicate + _range_bound(batch, merge.bounded_by),
                source_alias="s",
                target_alias="t",
                commit_properties=props,
            )
            updates = merge.matched_updates(batch.column_names)
            merger.when_matched_update(updates).when_not_matched_insert_all().execute()

        return self._commit(spec, rows, txn, upsert)

    def read_arrow(
        self, spec: TableSpec, columns: list[str] | None = None, where: str | None = None
    ) -> pa.Table | None:
        """Rows through DataFusion, which skips files by partition values and stats.

        pyarrow's dataset scanner is avoided on purpose: its thread pool sometimes
        aborts the interpreter at exit ("terminate called without an active exception").
        """
        table = self._load(spec)
        if table is None:
            return None
        schema = pa.schema(table.schema().to_arrow())
        names = columns or schema.names
        unknown = sorted(set(names) - set(schema.names))
        if unknown:
            raise KeyError(f"{spec.qualified_name} has no column(s) {unknown}")
        # columns are checked above and quoted; `where` is the caller's own SQL
        sql = f"SELECT {', '.join(_quoted(n) for n in names)} FROM lake_table"  # noqa: S608
        if where:
            sql += f" WHERE {where}"
        rows = pa.table(QueryBuilder().register("lake_table", table).execute(sql))
        # DataFusion answers with string_view/binary_view; callers get the table's types
        return rows.cast(pa.schema([schema.field(n) for n in names]))

    def user_metadata(self, spec: TableSpec, limit: int = 50) -> list[str]:
        """The user metadata of the table's last `limit` commits, newest first (commits
        without any, such as compactions, are left out)."""
        table = self._load(spec)
        if table is None:
            return []
        notes = (commit.get(USER_METADATA) for commit in table.history(limit))
        return [note for note in notes if isinstance(note, str)]

    def max_value(self, spec: TableSpec, column: str) -> Any:
        """The column's largest value from the Delta log's file statistics: no data file
        is read, so the cost does not grow with the table (None when empty or absent)."""
        table = self._load(spec)
        if table is None:
            return None
        actions = pa.table(table.get_add_actions(flatten=True))
        stat = f"max.{column}"
        if stat not in actions.column_names:
            return _max_by_scan(self.read_arrow(spec, [column]), column)
        has_rows = pc.greater(actions.column("num_records"), 0)
        maxima = actions.column(stat).filter(has_rows)
        if maxima.null_count:
            # a file without statistics (written by an old writer): scan once instead
            return _max_by_scan(self.read_arrow(spec, [column]), column)
        return pc.max(maxima).as_py()

    def compact(self, spec: TableSpec, *, retention_hours: int = RETENTION_HOURS) -> dict[str, Any]:
        """Bin-pack the many small files streaming makes, then delete unreferenced ones."""
        table = self._load(spec)
        if table is None:
            return {}
        metrics = table.optimize.compact()
        removed = table.vacuum(
            retention_hours=retention_hours,
            dry_run=False,
            enforce_retention_duration=retention_hours >= RETENTION_HOURS,
        )
        result = {
            "files_added": metrics.get("numFilesAdded"),
            "files_removed": metrics.get("numFilesRemoved"),
            "files_vacuumed": len(removed),
        }
        log.info(kv("delta_compacted", table=spec.qualified_name, **result))
        return result

    def _load(self, spec: TableSpec) -> DeltaTable | None:
        """The table at its latest version. A table loaded before by this thread is
        brought up to date incrementally instead of read from its checkpoint again."""
        uri = self.uri(spec)
        key = (threading.get_ident(), uri)
        cached = self._tables.get(key)
        if cached is not None:
            try:
                cached.update_incremental()
                return cached
            except DeltaError:
                self._tables.pop(key, None)  # e.g. the table was deleted: load afresh
        try:
            table = DeltaTable(uri, storage_options=self.storage_options)
        except TableNotFoundError:
            return None
        if len(self._tables) > 512:  # threads come and go: never grow without bound
            self._tables.clear()
        self._tables[key] = table
        return table

    def _commit(self, spec: TableSpec, batch: pa.Table, txn: BatchTxn, write: Commit) -> bool:
        """Write one batch once: skip a committed txn, retry lost commit races."""
        table = self._load(spec)
        if _has_committed(table, txn):
            log.info(_txn_event("delta_txn_skipped", spec, txn))
            return False
        if batch.num_rows == 0:
            return False
        props = CommitProperties(
            app_transactions=[Transaction(txn.app_id, txn.version)],
            # the key delta-spark writes its userMetadata option under, so both read alike
            custom_metadata={USER_METADATA: txn.metadata} if txn.metadata else None,
        )
        for attempt in range(1, self.max_attempts + 1):
            if table is None:
                table = self._create(spec, batch.schema)
            target = pa.schema(table.schema().to_arrow())
            try:
                write(table, conform(batch, target, spec.qualified_name), props)
            except CommitFailedError as error:
                # delta-rs already rebased a blind append up to 15 times; with many
                # writers on one table that can run out, so start over from a fresh load
                if attempt == self.max_attempts:
                    raise
                log.warning(_txn_event("delta_commit_conflict", spec, txn, error=str(error)[:200]))
                time.sleep(0.05 * attempt)
                table = self._load(spec)
                if _has_committed(table, txn):
                    return True  # the failed-looking attempt did land (e.g. an S3 timeout)
                continue
            log.debug(_txn_event("delta_committed", spec, txn, rows=batch.num_rows))
            return True
        raise AssertionError("unreachable")

    def _create(self, spec: TableSpec, batch_schema: pa.Schema) -> DeltaTable:
        """Create the table empty, once per process: concurrent first writes from
        several queries would otherwise race on the protocol and metadata commit."""
        uri = self.uri(spec)
        missing = [c for c in spec.partition_by if c not in batch_schema.names]
        if missing:
            raise ValueError(
                f"{spec.qualified_name} is partitioned by {missing}, "
                f"but the batch has only {batch_schema.names}"
            )
        with _creation_lock(uri):
            try:
                return DeltaTable.create(
                    uri,
                    schema=delta_schema(batch_schema),
                    mode="ignore",
                    partition_by=list(spec.partition_by) or None,
                    # the change data feed the warehouse loader reads
                    configuration=spec.delta_properties or None,
                    name=spec.name,
                    description=spec.description,
                    storage_options=self.storage_options,
                )
            except (CommitFailedError, DeltaError):
                # another process created it first
                table = self._load(spec)
                if table is None:
                    raise
                return table


class TableSchemaMismatch(ValueError):
    """A batch carries columns its table does not have."""


def delta_schema(batch_schema: pa.Schema) -> pa.Schema:
    """A new table's schema: every column nullable, as delta-spark makes a table created
    from a DataFrame (Spark's nullability is incidental: a count is "not null" in one
    batch's plan and could be null in another's), timestamps in microseconds."""
    return pa.schema([_nullable(f) for f in batch_schema])


def conform(batch: pa.Table, target: pa.Schema, table_name: str) -> pa.Table:
    """The batch in its table's column order and types, so that a batch whose Arrow
    schema differs slightly (nullability, int width, time zone) still appends."""
    extra = [c for c in batch.column_names if c not in target.names]
    if extra:
        raise TableSchemaMismatch(
            f"the batch for {table_name} has columns the table lacks: {extra}; "
            "drop them in the transform, or evolve the table's schema first"
        )
    columns = [
        batch.column(f.name).cast(f.type)
        if f.name in batch.column_names
        else pa.nulls(batch.num_rows, f.type)
        for f in target
    ]
    return pa.Table.from_arrays(columns, schema=target)


def _nullable(f: pa.Field) -> pa.Field:
    return pa.field(f.name, _delta_type(f.type), nullable=True)


def _delta_type(t: pa.DataType) -> pa.DataType:
    if pa.types.is_timestamp(t):
        return pa.timestamp("us", tz="UTC" if t.tz else None)
    if pa.types.is_struct(t):
        return pa.struct([_nullable(t.field(i)) for i in range(t.num_fields)])
    if pa.types.is_map(t):  # before lists: a map is a list of entries to pyarrow
        return pa.map_(_delta_type(t.key_type), _nullable(t.item_field))
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        return pa.list_(_nullable(t.value_field))
    return t


def delta_rs_uri(uri: str) -> str:
    """delta-rs names S3 `s3://`; Spark's Hadoop connector names it `s3a://`."""
    return "s3://" + uri.removeprefix("s3a://") if uri.startswith("s3a://") else uri


def _append(table: DeltaTable, batch: pa.Table, props: CommitProperties) -> None:
    write_deltalake(table, batch, mode="append", commit_properties=props)


def _range_bound(batch: pa.Table, column: str | None) -> str:
    """` AND t.<column> BETWEEN <batch min> AND <batch max>`: lets the merge skip target
    files by their statistics instead of joining the whole table on the keys."""
    if not column or batch.num_rows == 0:
        return ""
    low, high = pc.min_max(batch.column(column)).values()
    if low.as_py() is None:
        return ""
    low_sql, high_sql = _sql_literal(low.as_py()), _sql_literal(high.as_py())
    return f" AND t.{column} >= {low_sql} AND t.{column} <= {high_sql}"


def _sql_literal(value: object) -> str:
    if isinstance(value, (int, float)):
        return repr(value)
    text = value.isoformat() if hasattr(value, "isoformat") else str(value)
    return "'" + text.replace("'", "''") + "'"


def _max_by_scan(rows: pa.Table | None, column: str) -> Any:
    return None if rows is None or rows.num_rows == 0 else pc.max(rows.column(column)).as_py()


def _has_committed(table: DeltaTable | None, txn: BatchTxn) -> bool:
    if table is None:
        return False
    version = table.transaction_version(txn.app_id)
    return version is not None and version >= txn.version


def _txn_event(event: str, spec: TableSpec, txn: BatchTxn, **fields: object) -> str:
    return kv(event, table=spec.qualified_name, app_id=txn.app_id, version=txn.version, **fields)


def _quoted(column: str) -> str:
    return '"' + column.replace('"', '""') + '"'


def _creation_lock(uri: str) -> threading.Lock:
    with _creation_locks_guard:
        return _creation_locks.setdefault(uri, threading.Lock())
