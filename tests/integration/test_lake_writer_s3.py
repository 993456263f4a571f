"""DeltaRsWriter against an S3 API (moto's server on loopback), with the storage
options retail_lakehouse.lake builds from Settings."""

from __future__ import annotations

import datetime as dt
import threading
from decimal import Decimal

import pytest
from chispa import assert_df_equality
from pyspark.sql import DataFrame, SparkSession

from retail_lakehouse.settings import Settings
from retail_lakehouse.tables import QUARANTINE, SALES_BY_PRODUCT_MINUTE, TableSpec
from spark_streaming.delta_rs_writer import DeltaRsWriter
from spark_streaming.lake_writer import BatchTxn, MergeSpec

pytestmark = pytest.mark.integration

BUCKET = "retail-lake"
UTC = dt.UTC
GOLD_SCHEMA = "window_start timestamp, product_id long, orders long, revenue decimal(18,2)"
ADDITIVE = MergeSpec(
    keys=SALES_BY_PRODUCT_MINUTE.keys,
    updates={"orders": "t.orders + s.orders", "revenue": "t.revenue + s.revenue"},
)


@pytest.fixture(scope="module")
def s3_settings(s3_lake) -> Settings:
    return s3_lake(BUCKET)


@pytest.fixture
def writer(s3_settings: Settings) -> DeltaRsWriter:
    return DeltaRsWriter(s3_settings)


def stored(spark: SparkSession, writer: DeltaRsWriter, spec: TableSpec) -> DataFrame:
    table = writer.read_arrow(spec)
    assert table is not None
    return spark.createDataFrame(table)


def gold_row(m: int, product: int, orders: int, revenue: str) -> tuple:
    return (dt.datetime(2026, 3, 1, 9, m, tzinfo=UTC), product, orders, Decimal(revenue))


def test_append_is_idempotent_on_s3(spark: SparkSession, writer: DeltaRsWriter) -> None:
    spec = TableSpec("bronze", "s3_events", "test", partition_by=("ingest_date",))
    schema = "event_id string, ingest_date date"
    first = spark.createDataFrame(
        [("e1", dt.date(2026, 3, 1)), ("e2", dt.date(2026, 3, 2))], schema
    )
    second = spark.createDataFrame([("e3", dt.date(2026, 3, 2))], schema)

    assert writer.uri(spec) == f"s3://{BUCKET}/lake/bronze/s3_events"
    assert writer.append(spec, first.toArrow(), BatchTxn("sales", 0)) is True
    assert writer.append(spec, first.toArrow(), BatchTxn("sales", 0)) is False
    assert writer.append(spec, second.toArrow(), BatchTxn("sales", 1)) is True

    expected = spark.createDataFrame(
        [("e1", dt.date(2026, 3, 1)), ("e2", dt.date(2026, 3, 2)), ("e3", dt.date(2026, 3, 2))],
        schema,
    )
    assert_df_equality(stored(spark, writer, spec), expected, ignore_row_order=True)
    day_two = writer.read_arrow(spec, ["event_id"], "ingest_date = '2026-03-02'")
    assert day_two is not None
    assert sorted(day_two.column("event_id").to_pylist()) == ["e2", "e3"]


def test_merge_on_s3(spark: SparkSession, writer: DeltaRsWriter) -> None:
    batches = [
        [gold_row(0, 1, 1, "9.99"), gold_row(0, 2, 2, "4.00")],
        [gold_row(0, 1, 2, "0.02"), gold_row(1, 1, 1, "1.00")],
    ]
    for batch_id, rows in enumerate(batches):
        frame = spark.createDataFrame(rows, GOLD_SCHEMA)
        assert writer.merge(
            SALES_BY_PRODUCT_MINUTE, frame.toArrow(), ADDITIVE, BatchTxn("sales", batch_id)
        )
    replay = spark.createDataFrame(batches[1], GOLD_SCHEMA)
    assert (
        writer.merge(SALES_BY_PRODUCT_MINUTE, replay.toArrow(), ADDITIVE, BatchTxn("sales", 1))
        is False
    )

    expected = spark.createDataFrame(
        [gold_row(0, 1, 3, "10.01"), gold_row(0, 2, 2, "4.00"), gold_row(1, 1, 1, "1.00")],
        GOLD_SCHEMA,
    )
    assert_df_equality(
        stored(spark, writer, SALES_BY_PRODUCT_MINUTE), expected, ignore_row_order=True
    )


def test_concurrent_appends_on_s3_lose_nothing(spark: SparkSession, writer: DeltaRsWriter) -> None:
    schema = "query string, batch long"
    frames = {
        (q, b): spark.createDataFrame([(f"q{q}", b)], schema) for q in range(3) for b in range(3)
    }
    errors: list[BaseException] = []

    def run_query(q: int) -> None:
        try:
            for b in range(3):
                writer.append(QUARANTINE, frames[(q, b)].toArrow(), BatchTxn(f"q{q}", b))
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=run_query, args=(q,)) for q in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    expected = spark.createDataFrame([(f"q{q}", b) for q in range(3) for b in range(3)], schema)
    assert_df_equality(stored(spark, writer, QUARANTINE), expected, ignore_row_order=True)
