"""Delta tables written by delta-spark, for clusters that carry the Delta jars.

Appends use the DataFrame writer's idempotent options (txnAppId, txnVersion). Merges
have no such options, only the idempotent-DML session settings, which Delta reads
twice: when the command starts and again when it commits. A batch merges several gold
tables at once, so each table merges on a session of its own: with one shared session,
the first merge to finish cleared the settings while another was still writing, and
that one committed without its transaction (a replay after a crash then added its
increment a second time). Checks and reads go through delta-rs on the same table,
which needs no Spark job.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from retail_lakehouse import lake
from retail_lakehouse.logs import kv
from spark_streaming.delta_rs_writer import RETENTION_HOURS, USER_METADATA, DeltaRsWriter

if TYPE_CHECKING:
    import pyarrow as pa
    from pyspark.sql import Column, SparkSession

    from retail_lakehouse.settings import Settings
    from retail_lakehouse.tables import TableSpec
    from spark_streaming.lake_writer import BatchTxn, MergeSpec

log = logging.getLogger(__name__)

TXN_APP_ID_CONF = "spark.databricks.delta.write.txnAppId"
TXN_VERSION_CONF = "spark.databricks.delta.write.txnVersion"
USER_METADATA_CONF = "spark.databricks.delta.commitInfo.userMetadata"


class DeltaSparkWriter:
    """LakeWriter over delta-spark (`delta.tables`), on paths Spark reaches (s3a://)."""

    name = "delta-spark"

    def __init__(self, spark: SparkSession, settings: Settings) -> None:
        self.spark = spark
        self.settings = settings
        self.reader = DeltaRsWriter(settings)
        # one session per merged table: SQL settings are per session, the rest shared
        self._merge_sessions: dict[str, SparkSession] = {}
        self._sessions_lock = threading.Lock()

    def path(self, spec: TableSpec) -> str:
        return spark_uri(lake.uri(self.settings, spec))

    def exists(self, spec: TableSpec) -> bool:
        return self.reader.exists(spec)

    def is_committed(self, spec: TableSpec, txn: BatchTxn) -> bool:
        return self.reader.is_committed(spec, txn)

    def read_arrow(
        self, spec: TableSpec, columns: list[str] | None = None, where: str | None = None
    ) -> pa.Table | None:
        return self.reader.read_arrow(spec, columns, where)

    def max_value(self, spec: TableSpec, column: str) -> object:
        return self.reader.max_value(spec, column)

    def user_metadata(self, spec: TableSpec, limit: int = 50) -> list[str]:
        return self.reader.user_metadata(spec, limit)

    def append(self, spec: TableSpec, rows: pa.Table, txn: BatchTxn) -> bool:
        if self._skip(spec, rows, txn):
            return False
        writer = (
            self.spark.createDataFrame(rows)
            .write.format("delta")
            .mode("append")
            .option("txnAppId", txn.app_id)
            .option("txnVersion", str(txn.version))
        )
        if txn.metadata:
            writer = writer.option(USER_METADATA, txn.metadata)
        # table properties (the change data feed) take effect when the write creates it
        writer = writer.options(**spec.delta_properties)
        if spec.partition_by:
            writer = writer.partitionBy(*spec.partition_by)
        writer.save(self.path(spec))
        return True

    def merge(self, spec: TableSpec, rows: pa.Table, merge: MergeSpec, txn: BatchTxn) -> bool:
        from delta.tables import DeltaTable

        if self._skip(spec, rows, txn):
            return False
        session = self._merge_session(spec)
        df = session.createDataFrame(rows)
        path = self.path(spec)
        if not DeltaTable.isDeltaTable(session, path):
            # an empty table first, so the first batch goes through the same merge
            creator = (
                df.limit(0).write.format("delta").mode("ignore").options(**spec.delta_properties)
            )
            if spec.partition_by:
                creator = creator.partitionBy(*spec.partition_by)
            creator.save(path)
        updates: dict[str, str | Column] = dict(merge.matched_updates(df.columns))
        with idempotent_dml(session, txn):
            (
                DeltaTable.forPath(session, path)
                .alias("t")
                .merge(df.alias("s"), merge.predicate)
                .whenMatchedUpdate(set=updates)
                .whenNotMatchedInsertAll()
                .execute()
            )
        return True

    def _merge_session(self, spec: TableSpec) -> SparkSession:
        """The session `spec` is merged on; merges of one table never overlap (a batch
        merges each table once and batches run one after another)."""
        with self._sessions_lock:
            session = self._merge_sessions.get(spec.qualified_name)
            if session is None:
                session = self.spark.newSession()
                self._merge_sessions[spec.qualified_name] = session
            return session

    def compact(self, spec: TableSpec, *, retention_hours: int = RETENTION_HOURS) -> dict[str, Any]:
        """OPTIMIZE then VACUUM through Spark."""
        from delta.tables import DeltaTable

        if not self.exists(spec):
            return {}
        table = DeltaTable.forPath(self.spark, self.path(spec))
        metrics = table.optimize().executeCompaction().collect()
        table.vacuum(retention_hours)
        log.info(kv("delta_compacted", table=spec.qualified_name, writer=self.name))
        return {"optimize": [row.asDict(recursive=True) for row in metrics]}

    def _skip(self, spec: TableSpec, rows: pa.Table, txn: BatchTxn) -> bool:
        """Already committed, or nothing to write (an empty batch makes no commit)."""
        if self.is_committed(spec, txn):
            log.info(
                kv(
                    "delta_txn_skipped",
                    table=spec.qualified_name,
                    app_id=txn.app_id,
                    version=txn.version,
                )
            )
            return True
        return rows.num_rows == 0


@contextmanager
def idempotent_dml(session: SparkSession, txn: BatchTxn) -> Iterator[None]:
    """Tag the DML run inside with the txn and its metadata; cleared after, so later DML
    is not skipped. `session` must be used by this DML alone until it returns (see the
    module doc)."""
    session.conf.set(TXN_APP_ID_CONF, txn.app_id)
    session.conf.set(TXN_VERSION_CONF, str(txn.version))
    if txn.metadata:
        session.conf.set(USER_METADATA_CONF, txn.metadata)
    try:
        yield
    finally:
        for key in (TXN_APP_ID_CONF, TXN_VERSION_CONF, USER_METADATA_CONF):
            session.conf.unset(key)


def spark_uri(uri: str) -> str:
    """Spark's Hadoop connector reaches S3 as `s3a://`; delta-rs as `s3://`."""
    return "s3a://" + uri.removeprefix("s3://") if uri.startswith("s3://") else uri


def s3a_options(settings: Settings) -> dict[str, str]:
    """`spark.hadoop.fs.s3a.*` settings for the lake's S3 or MinIO endpoint.

    Pass them to the SparkSession builder (hadoop-aws must be on the classpath);
    empty for a local lake.
    """
    options = lake.storage_options(settings)
    if not options:
        return {}
    prefix = "spark.hadoop.fs.s3a."
    conf = {f"{prefix}endpoint.region": options["AWS_REGION"]}
    if "AWS_ENDPOINT_URL" in options:
        conf[f"{prefix}endpoint"] = options["AWS_ENDPOINT_URL"]
        conf[f"{prefix}path.style.access"] = "true"
    if options.get("AWS_ALLOW_HTTP") == "true":
        conf[f"{prefix}connection.ssl.enabled"] = "false"
    if "AWS_ACCESS_KEY_ID" in options:
        conf[f"{prefix}access.key"] = options["AWS_ACCESS_KEY_ID"]
        conf[f"{prefix}secret.key"] = options.get("AWS_SECRET_ACCESS_KEY", "")
    if "AWS_SESSION_TOKEN" in options:
        conf[f"{prefix}session.token"] = options["AWS_SESSION_TOKEN"]
        conf[f"{prefix}aws.credentials.provider"] = (
            "org.apache.hadoop.fs.s3a.TemporaryAWSCredentialsProvider"
        )
    return conf
