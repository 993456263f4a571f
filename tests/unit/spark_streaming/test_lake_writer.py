"""MergeSpec, the writer factory (the test session carries the Delta jars), and the
delta-spark writer's calls."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pyspark.sql import SparkSession

from retail_lakehouse import jvm
from retail_lakehouse.settings import Settings
from retail_lakehouse.tables import TableSpec
from spark_streaming import delta_spark_writer
from spark_streaming.delta_rs_writer import DeltaRsWriter, delta_rs_uri
from spark_streaming.delta_spark_writer import (
    TXN_APP_ID_CONF,
    TXN_VERSION_CONF,
    DeltaSparkWriter,
    idempotent_dml,
    s3a_options,
    spark_uri,
)
from spark_streaming.lake_writer import (
    BatchTxn,
    MergeSpec,
    delta_spark_instructions,
    lake_writer_name,
    make_lake_writer,
    missing_delta_spark_pieces,
    writes_from_driver,
)

SPEC = TableSpec("gold", "by_store", "test", keys=("window_start", "store_id"))
PARTITIONED = TableSpec("bronze", "raw", "test", partition_by=("ingest_date",))


def test_merge_spec_predicate_and_updates() -> None:
    additive = MergeSpec(keys=SPEC.keys, updates={"orders": "t.orders + s.orders"})
    assert additive.predicate == "t.window_start = s.window_start AND t.store_id = s.store_id"
    assert additive.matched_updates(["window_start", "store_id", "orders"]) == {
        "orders": "t.orders + s.orders"
    }
    every_column = MergeSpec(keys=("id",), extra={"created_at": "t.created_at"})
    assert every_column.matched_updates(["id", "qty", "created_at"]) == {
        "qty": "s.qty",
        "created_at": "t.created_at",
    }


@pytest.mark.parametrize(
    ("choice", "spark_submit", "expected"),
    [
        ("auto", False, "delta-rs"),  # a session started from Python writes with delta-rs
        ("auto", True, "delta-spark"),  # under spark-submit, with the Delta jars loaded
        ("delta-rs", False, "delta-rs"),
        ("delta-rs", True, "delta-rs"),
        ("delta-spark", False, "delta-spark"),  # the test session carries the Delta jars
    ],
)
def test_the_writer_delta_writer_asks_for(
    spark: SparkSession,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    choice: str,
    spark_submit: bool,
    expected: str,
) -> None:
    if spark_submit:  # what spark-submit hands the Python driver
        monkeypatch.setenv("PYSPARK_GATEWAY_PORT", "45678")
    else:
        monkeypatch.delenv("PYSPARK_GATEWAY_PORT", raising=False)
    settings = Settings(lake_root=str(tmp_path), delta_writer=choice)  # type: ignore[arg-type]

    writer = make_lake_writer(spark, settings)

    kind = {"delta-rs": DeltaRsWriter, "delta-spark": DeltaSparkWriter}[expected]
    assert type(writer) is kind
    assert lake_writer_name(writer) == expected
    assert writes_from_driver(writer) is (expected == "delta-rs")


def test_delta_spark_instructions_say_what_to_pass() -> None:
    missing = [
        "spark.sql.extensions=io.delta.sql.DeltaSparkSessionExtension",
        "the Delta jars (io.delta.tables.DeltaTable is not on the classpath)",
    ]
    assert delta_spark_instructions(missing) == (
        "DELTA_WRITER=delta-spark, but this Spark session cannot write Delta tables; missing: "
        "spark.sql.extensions=io.delta.sql.DeltaSparkSessionExtension; "
        "the Delta jars (io.delta.tables.DeltaTable is not on the classpath). "
        "Start Spark with --packages io.delta:delta-spark_2.13:4.4.0 "
        "--conf spark.sql.extensions=io.delta.sql.DeltaSparkSessionExtension "
        "--conf spark.sql.catalog.spark_catalog=org.apache.spark.sql.delta.catalog.DeltaCatalog "
        '(or --jars "$(lakehouse jars)" with the jars `make install` fetched), '
        "or set DELTA_WRITER=delta-rs (or auto) to write the lake with delta-rs."
    )
    # the package named is the jar `make install` fetched for local sessions
    assert "delta-spark_2.13-4.4.0.jar" in [path.name for path in jvm.jars("spark")]


def test_a_session_with_the_delta_jars_misses_nothing(spark: SparkSession) -> None:
    assert missing_delta_spark_pieces(spark) == []


def test_writer_name_sees_through_wrappers(tmp_path: Path) -> None:
    class Wrapper:
        def __init__(self, inner: Any) -> None:
            self.inner = inner

    writer = DeltaRsWriter(Settings(lake_root=str(tmp_path)))
    assert lake_writer_name(Wrapper(writer)) == "delta-rs"  # type: ignore[arg-type]


def test_s3_schemes_translate_both_ways() -> None:
    assert spark_uri("s3://lake/gold/t") == "s3a://lake/gold/t"
    assert delta_rs_uri("s3a://lake/gold/t") == "s3://lake/gold/t"
    assert spark_uri("/data/lake/gold/t") == "/data/lake/gold/t"
    assert delta_rs_uri("/data/lake/gold/t") == "/data/lake/gold/t"


def test_s3a_options_for_minio() -> None:
    settings = Settings(
        lake_root="s3://lake/prefix",
        aws_endpoint_url="http://127.0.0.1:9000",
        aws_access_key_id="minio",
        aws_secret_access_key="minio-secret",
        aws_region="eu-west-1",
    )
    assert s3a_options(settings) == {
        "spark.hadoop.fs.s3a.endpoint.region": "eu-west-1",
        "spark.hadoop.fs.s3a.endpoint": "http://127.0.0.1:9000",
        "spark.hadoop.fs.s3a.path.style.access": "true",
        "spark.hadoop.fs.s3a.connection.ssl.enabled": "false",
        "spark.hadoop.fs.s3a.access.key": "minio",
        "spark.hadoop.fs.s3a.secret.key": "minio-secret",
    }
    assert s3a_options(Settings(lake_root="/tmp/lake")) == {}


def test_idempotent_dml_confs_are_cleared_after(spark: SparkSession) -> None:
    session = spark.newSession()
    with idempotent_dml(session, BatchTxn("gold-q", 7)):
        assert session.conf.get(TXN_APP_ID_CONF) == "gold-q"
        assert session.conf.get(TXN_VERSION_CONF) == "7"
    assert session.conf.get(TXN_APP_ID_CONF, None) is None
    assert session.conf.get(TXN_VERSION_CONF, None) is None


class Recorder:
    """Stands in for DataFrameWriter and DeltaTable builders: records each call."""

    def __init__(self, calls: list[tuple], name: str = "") -> None:
        self.calls = calls
        self.name = name

    def __getattr__(self, method: str) -> Any:
        def record(*args: Any, **kwargs: Any) -> Recorder:
            self.calls.append((method, args, kwargs) if kwargs else (method, args))
            return self

        return record


class FakeBatch:
    def __init__(self, calls: list[tuple], session: Any) -> None:
        self.write = Recorder(calls)
        self.sparkSession = session
        self.columns = ["window_start", "store_id", "orders"]

    def isEmpty(self) -> bool:
        return False

    def alias(self, name: str) -> str:
        return f"batch as {name}"


def test_delta_spark_append_passes_txn_options(tmp_path: Path, monkeypatch: Any) -> None:
    writer = DeltaSparkWriter(spark=None, settings=Settings(lake_root=str(tmp_path)))  # type: ignore[arg-type]
    monkeypatch.setattr(writer.reader, "is_committed", lambda spec, txn: False)
    calls: list[tuple] = []

    assert writer.append(PARTITIONED, FakeBatch(calls, None), BatchTxn("sales-q", 3))  # type: ignore[arg-type]

    assert calls == [
        ("format", ("delta",)),
        ("mode", ("append",)),
        ("option", ("txnAppId", "sales-q")),
        ("option", ("txnVersion", "3")),
        ("partitionBy", ("ingest_date",)),
        ("save", (f"{tmp_path}/bronze/raw",)),
    ]


def test_delta_spark_merge_tags_the_batch_session(
    spark: SparkSession, tmp_path: Path, monkeypatch: Any
) -> None:
    import delta.tables

    session = spark.newSession()
    calls: list[tuple] = []
    seen_confs: list[tuple] = []

    class FakeDeltaTable:
        @staticmethod
        def isDeltaTable(spark_session: Any, path: str) -> bool:
            return True

        @staticmethod
        def forPath(spark_session: Any, path: str) -> Recorder:
            assert spark_session is session
            seen_confs.append(
                (session.conf.get(TXN_APP_ID_CONF), session.conf.get(TXN_VERSION_CONF))
            )
            calls.append(("forPath", (path,)))
            return Recorder(calls)

    monkeypatch.setattr(delta.tables, "DeltaTable", FakeDeltaTable)
    writer = DeltaSparkWriter(spark, Settings(lake_root=str(tmp_path)))
    monkeypatch.setattr(writer.reader, "is_committed", lambda spec, txn: False)
    merge = MergeSpec(keys=SPEC.keys, updates={"orders": "t.orders + s.orders"})

    assert writer.merge(SPEC, FakeBatch([], session), merge, BatchTxn("gold-q", 5))  # type: ignore[arg-type]

    assert seen_confs == [("gold-q", "5")]
    assert calls == [
        ("forPath", (f"{tmp_path}/gold/by_store",)),
        ("alias", ("t",)),
        ("merge", ("batch as s", "t.window_start = s.window_start AND t.store_id = s.store_id")),
        ("whenMatchedUpdate", (), {"set": {"orders": "t.orders + s.orders"}}),
        ("whenNotMatchedInsertAll", ()),
        ("execute", ()),
    ]
    assert session.conf.get(TXN_APP_ID_CONF, None) is None


def test_delta_spark_skips_a_committed_txn(tmp_path: Path, monkeypatch: Any) -> None:
    writer = delta_spark_writer.DeltaSparkWriter(None, Settings(lake_root=str(tmp_path)))  # type: ignore[arg-type]
    monkeypatch.setattr(writer.reader, "is_committed", lambda spec, txn: True)
    calls: list[tuple] = []
    assert writer.append(PARTITIONED, FakeBatch(calls, None), BatchTxn("q", 1)) is False  # type: ignore[arg-type]
    assert calls == []
