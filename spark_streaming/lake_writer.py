"""One small interface for writing Delta tables from a micro-batch.

A batch's rows are Arrow tables in the driver. delta-rs commits them as they are;
delta-spark (what a cluster uses) turns them into DataFrames and writes through
Spark. Both make a batch's write exactly-once across restarts with Delta app
transactions keyed by (app_id, micro-batch id).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib import metadata
from typing import TYPE_CHECKING, Protocol

from retail_lakehouse.logs import kv

if TYPE_CHECKING:
    import pyarrow as pa
    from pyspark.sql import SparkSession

    from retail_lakehouse.settings import Settings
    from retail_lakehouse.tables import TableSpec

log = logging.getLogger(__name__)

DELTA_EXTENSION = "io.delta.sql.DeltaSparkSessionExtension"
DELTA_CATALOG = "org.apache.spark.sql.delta.catalog.DeltaCatalog"
DELTA_TABLE_CLASS = "io.delta.tables.DeltaTable"


@dataclass(frozen=True)
class BatchTxn:
    """Identifies one micro-batch's write: skipped if the table already committed it.

    `metadata` goes into the commit's user metadata (commitInfo.userMetadata): where
    the batch read Kafka up to, so the lake knows how far each table got even when the
    checkpoint that knew it is lost.
    """

    app_id: str
    version: int
    metadata: str | None = None


@dataclass(frozen=True)
class MergeSpec:
    """An upsert: match on `keys`; when matched set `updates` (SQL over `t.` = target and
    `s.` = source; None updates every column from the source); when not matched insert
    the source row as it is.

    `extra` is laid over the matched updates (also over "every column" when `updates`
    is None), e.g. `{"first_seen_at": "t.first_seen_at"}` to keep one target column.
    `bounded_by` names a key column whose batch range (min to max) bounds the target
    rows a writer may match, so a merge reads only the files that overlap the batch.
    Expressions must parse in both Spark SQL and DataFusion (delta-rs): plain
    arithmetic, CAST, ROUND, CASE WHEN, COALESCE.
    """

    keys: tuple[str, ...]
    updates: Mapping[str, str] | None = None
    extra: Mapping[str, str] = field(default_factory=dict)
    bounded_by: str | None = None

    @property
    def predicate(self) -> str:
        return " AND ".join(f"t.{k} = s.{k}" for k in self.keys)

    def matched_updates(self, source_columns: Iterable[str]) -> dict[str, str]:
        """Column -> SQL to set on a matched target row."""
        if self.updates is None:
            base = {c: f"s.{c}" for c in source_columns if c not in self.keys}
        else:
            base = dict(self.updates)
        return {**base, **self.extra}


class LakeWriter(Protocol):
    """What a streaming job needs from the lake.

    `append` and `merge` return True only when they committed: False means the txn
    was already committed by an earlier attempt, or the batch was empty (an empty
    batch never creates a table or a commit).
    """

    def append(self, spec: TableSpec, rows: pa.Table, txn: BatchTxn) -> bool:
        """Append the rows; False when this txn was already committed (nothing written)."""
        ...

    def merge(self, spec: TableSpec, rows: pa.Table, merge: MergeSpec, txn: BatchTxn) -> bool:
        """Upsert the rows (creating the table on first write); False when already committed."""
        ...

    def is_committed(self, spec: TableSpec, txn: BatchTxn) -> bool: ...

    def exists(self, spec: TableSpec) -> bool: ...

    def max_value(self, spec: TableSpec, column: str) -> object:
        """The column's largest value, from file statistics where the format keeps them."""
        ...

    def read_arrow(
        self, spec: TableSpec, columns: list[str] | None = None, where: str | None = None
    ) -> pa.Table | None:
        """Rows of a table (None when it does not exist yet); `where` is a SQL predicate."""
        ...

    def user_metadata(self, spec: TableSpec, limit: int = 50) -> list[str]:
        """The user metadata of the table's recent commits, newest first."""
        ...


class DeltaSparkUnavailable(RuntimeError):
    """DELTA_WRITER=delta-spark was asked for but the Spark session cannot write Delta."""


def make_lake_writer(spark: SparkSession, settings: Settings) -> LakeWriter:
    """The writer DELTA_WRITER asks for. "auto": delta-spark under spark-submit when the
    session can write Delta (what a cluster uses), delta-rs otherwise: locally it commits
    a micro-batch several times faster (docs/architecture.md)."""
    from spark_streaming.delta_rs_writer import DeltaRsWriter
    from spark_streaming.delta_spark_writer import DeltaSparkWriter
    from spark_streaming.session import launched_by_spark_submit

    choice = settings.delta_writer
    if choice == "delta-rs" or (choice == "auto" and not launched_by_spark_submit()):
        return DeltaRsWriter(settings)
    missing = missing_delta_spark_pieces(spark)
    if not missing:
        return DeltaSparkWriter(spark, settings)
    if choice == "delta-spark":
        raise DeltaSparkUnavailable(delta_spark_instructions(missing))
    log.info(kv("lake_writer_fallback", writer="delta-rs", delta_spark_missing=",".join(missing)))
    return DeltaRsWriter(settings)


def lake_writer_name(writer: LakeWriter) -> str:
    """ "delta-rs" or "delta-spark" (the class name for any other writer), for logs."""
    inner = getattr(writer, "inner", None)  # see through wrappers such as the crash drill
    if inner is not None and not hasattr(writer, "name"):
        return lake_writer_name(inner)
    return str(getattr(writer, "name", type(writer).__name__))


def missing_delta_spark_pieces(spark: SparkSession) -> list[str]:
    """What keeps this session from writing Delta through the JVM; empty when nothing."""
    missing = []
    extensions = spark.conf.get("spark.sql.extensions", None) or ""
    if DELTA_EXTENSION not in extensions:
        missing.append(f"spark.sql.extensions={DELTA_EXTENSION}")
    if not _jvm_class_loadable(spark, DELTA_TABLE_CLASS):
        missing.append(f"the Delta jars ({DELTA_TABLE_CLASS} is not on the classpath)")
    return missing


def delta_spark_package() -> str:
    """The Maven coordinate of the delta-spark jar matching the installed wheel."""
    try:
        delta_version = metadata.version("delta-spark")
    except metadata.PackageNotFoundError:
        delta_version = "<delta version>"
    return f"io.delta:delta-spark_2.13:{delta_version}"


def delta_spark_instructions(missing: list[str]) -> str:
    return (
        "DELTA_WRITER=delta-spark, but this Spark session cannot write Delta tables; missing: "
        + "; ".join(missing)
        + f". Start Spark with --packages {delta_spark_package()} "
        f"--conf spark.sql.extensions={DELTA_EXTENSION} "
        f"--conf spark.sql.catalog.spark_catalog={DELTA_CATALOG} "
        '(or --jars "$(lakehouse jars)" with the jars `make install` fetched), '
        "or set DELTA_WRITER=delta-rs (or auto) to write the lake with delta-rs."
    )


def _jvm_class_loadable(spark: SparkSession, class_name: str) -> bool:
    jvm = getattr(spark, "_jvm", None)
    if jvm is None:
        # Spark Connect has no py4j gateway: trust the session's extension setting
        return True
    try:
        return bool(jvm.org.apache.spark.util.Utils.classIsLoadable(class_name))
    except Exception:  # a gateway without Utils means no JVM Delta either
        return False
