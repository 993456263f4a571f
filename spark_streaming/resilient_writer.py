"""A LakeWriter that waits out lake storage outages (disk full, S3 or MinIO refusing or
timing out) instead of failing the streaming query.

Every call is retried with backoff inside LAKE_OUTAGE_TOLERANCE. A commit that failed
or timed out may still have landed, so before writing again the table's app
transaction is checked: a batch that did land is never written twice.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from retail_lakehouse.durations import duration_seconds
from retail_lakehouse.logs import kv
from spark_streaming.outage import Outage, ride_out

if TYPE_CHECKING:
    import pyarrow as pa

    from retail_lakehouse.settings import Settings
    from retail_lakehouse.tables import TableSpec
    from spark_streaming.lake_writer import BatchTxn, LakeWriter, MergeSpec

log = logging.getLogger(__name__)

T = TypeVar("T")


def is_transient_storage_error(error: BaseException) -> bool:
    """I/O, network and commit errors are worth retrying; a wrong schema or a bug is not."""
    from deltalake.exceptions import DeltaProtocolError, SchemaMismatchError

    permanent: tuple[type[BaseException], ...] = (
        ValueError,  # includes the writers' own schema errors and pyarrow's ArrowInvalid
        TypeError,
        KeyError,
        AttributeError,
        AssertionError,
        NotImplementedError,
        SchemaMismatchError,
        DeltaProtocolError,
    )
    if isinstance(error, permanent):
        return False
    try:
        from pyspark.errors import AnalysisException
    except ImportError:  # pragma: no cover - pyspark is always installed with the job
        return True
    return not isinstance(error, AnalysisException)


class ResilientLakeWriter:
    """Wraps any LakeWriter; `inner` is the wrapped one."""

    def __init__(
        self,
        inner: LakeWriter,
        outage: Outage,
        is_transient: Callable[[BaseException], bool] = is_transient_storage_error,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        self.inner = inner
        self.outage = outage
        self._is_transient = is_transient
        self._sleep = sleep

    def append(self, spec: TableSpec, rows: pa.Table, txn: BatchTxn) -> bool:
        return self._commit("append", spec, txn, lambda: self.inner.append(spec, rows, txn))

    def merge(self, spec: TableSpec, rows: pa.Table, merge: MergeSpec, txn: BatchTxn) -> bool:
        return self._commit("merge", spec, txn, lambda: self.inner.merge(spec, rows, merge, txn))

    def is_committed(self, spec: TableSpec, txn: BatchTxn) -> bool:
        return self._retry(f"check of {spec.qualified_name}", lambda: self._committed(spec, txn))

    def exists(self, spec: TableSpec) -> bool:
        return self._retry(f"check of {spec.qualified_name}", lambda: self.inner.exists(spec))

    def read_arrow(
        self, spec: TableSpec, columns: list[str] | None = None, where: str | None = None
    ) -> pa.Table | None:
        return self._retry(
            f"read of {spec.qualified_name}", lambda: self.inner.read_arrow(spec, columns, where)
        )

    def user_metadata(self, spec: TableSpec, limit: int = 50) -> list[str]:
        return self._retry(
            f"history of {spec.qualified_name}", lambda: self.inner.user_metadata(spec, limit)
        )

    def __getattr__(self, name: str) -> Any:
        # anything else a writer offers (compact, uri, name) is the inner writer's
        if name == "inner":  # not set yet (e.g. while copying): no endless recursion
            raise AttributeError(name)
        return getattr(self.inner, name)

    def _committed(self, spec: TableSpec, txn: BatchTxn) -> bool:
        return self.inner.is_committed(spec, txn)

    def _commit(self, kind: str, spec: TableSpec, txn: BatchTxn, write: Callable[[], bool]) -> bool:
        attempts = 0

        def attempt() -> bool:
            nonlocal attempts
            attempts += 1
            if attempts > 1 and self._committed(spec, txn):
                # the attempt that "failed" did land: writing again would double the batch
                log.warning(
                    kv(
                        "lake_commit_had_landed",
                        table=spec.qualified_name,
                        app_id=txn.app_id,
                        version=txn.version,
                    )
                )
                return True
            return write()

        return self._retry(f"{kind} to {spec.qualified_name} (batch {txn.version})", attempt)

    def _retry(self, during: str, call: Callable[[], T]) -> T:
        if self._sleep is None:
            return ride_out(call, self.outage, during, self._is_transient)
        return ride_out(call, self.outage, during, self._is_transient, sleep=self._sleep)


def lake_outage(settings: Settings) -> Outage:
    return Outage(
        "lake",
        settings.resolved_lake_root,
        duration_seconds(settings.lake_outage_tolerance),
        "LAKE_OUTAGE_TOLERANCE",
    )


def with_outage_retries(writer: LakeWriter, settings: Settings) -> LakeWriter:
    """`writer`, waiting out storage outages for LAKE_OUTAGE_TOLERANCE (once: never twice)."""
    if isinstance(writer, ResilientLakeWriter):
        return writer
    return ResilientLakeWriter(writer, lake_outage(settings))
