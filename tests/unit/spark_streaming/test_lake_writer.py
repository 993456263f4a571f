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
from spark_streaming.delta_rs_writer import DeltaRsWriter, delta_rs_uri
from spark_streaming.delta_spark_writer import (
    DeltaSparkWriter,
    s3a_options,
    spark_uri,
)
from spark_streaming.lake_writer import (
    MergeSpec,
    delta_spark_instructions,
    lake_writer_name,
    make_lake_writer,
    missing_delta_spark_pieces,
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
