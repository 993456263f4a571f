"""Recovery drills: kill the driver right after a chosen Delta commit.

Set LAKEHOUSE_CRASH_AFTER_COMMIT=<table>:<batch id>, e.g. `gold.sales_by_product_minute:1`,
and the process exits abruptly (no cleanup, like `kill -9`) right after that table
committed that micro-batch and before Spark writes its own commit log. A restart
must then replay the batch without losing or doubling a row; the crash test does
exactly that.
"""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING

from retail_lakehouse.logs import kv

if TYPE_CHECKING:
    import pyarrow as pa

    from retail_lakehouse.tables import TableSpec
    from spark_streaming.lake_writer import BatchTxn, LakeWriter, MergeSpec

ENV_VAR = "LAKEHOUSE_CRASH_AFTER_COMMIT"
log = logging.getLogger(__name__)


class CrashAfterCommit:
    """A LakeWriter that delegates everything and exits after one chosen commit."""

    def __init__(self, inner: LakeWriter, table: str, batch_id: int) -> None:
        self.inner = inner
        self.table = table
        self.batch_id = batch_id

    def _maybe_crash(self, spec: TableSpec, txn: BatchTxn, committed: bool) -> None:
        if committed and spec.qualified_name == self.table and txn.version == self.batch_id:
            log.warning(kv("crash_drill", table=self.table, batch=self.batch_id))
            logging.shutdown()
            os._exit(137)

    def append(self, spec: TableSpec, rows: pa.Table, txn: BatchTxn) -> bool:
        committed = self.inner.append(spec, rows, txn)
        self._maybe_crash(spec, txn, committed)
        return committed

    def merge(self, spec: TableSpec, rows: pa.Table, merge: MergeSpec, txn: BatchTxn) -> bool:
        committed = self.inner.merge(spec, rows, merge, txn)
        self._maybe_crash(spec, txn, committed)
        return committed

    def is_committed(self, spec: TableSpec, txn: BatchTxn) -> bool:
        return self.inner.is_committed(spec, txn)

    def exists(self, spec: TableSpec) -> bool:
        return self.inner.exists(spec)

    def max_value(self, spec: TableSpec, column: str) -> object:
        return self.inner.max_value(spec, column)

    def user_metadata(self, spec: TableSpec, limit: int = 50) -> list[str]:
        return self.inner.user_metadata(spec, limit)

    def read_arrow(
        self, spec: TableSpec, columns: list[str] | None = None, where: str | None = None
    ) -> pa.Table | None:
        return self.inner.read_arrow(spec, columns, where)


def with_crash_drill(writer: LakeWriter) -> LakeWriter:
    """Wrap the writer when the drill is requested through the environment."""
    target = os.environ.get(ENV_VAR)
    if not target:
        return writer
    table, _, batch = target.rpartition(":")
    if not table or not batch.isdigit():
        raise ValueError(
            f"{ENV_VAR} must look like 'gold.sales_by_product_minute:1', got {target!r}"
        )
    return CrashAfterCommit(writer, table, int(batch))
