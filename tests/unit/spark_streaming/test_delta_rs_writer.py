"""DeltaRsWriter appends and reads on real Delta tables in a temporary folder."""

from __future__ import annotations

import datetime as dt
import threading
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pytest
from chispa import assert_df_equality
from deltalake import DeltaTable
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import types as T

from retail_lakehouse.settings import Settings
from retail_lakehouse.tables import TableSpec
from spark_streaming.delta_rs_writer import DeltaRsWriter, TableSchemaMismatch
from spark_streaming.lake_writer import BatchTxn

UTC = dt.UTC
EVENTS = TableSpec("bronze", "events", "test events", partition_by=("ingest_date",))
SHARED = TableSpec("silver", "shared_quarantine", "one table, several writers")

EVENT_SCHEMA = T.StructType(
    [
        T.StructField("event_id", T.StringType()),
        T.StructField("event_time", T.TimestampType()),
        T.StructField("amount", T.DecimalType(12, 2)),
        T.StructField("ingest_date", T.DateType()),
    ]
)


def event(event_id: str, minute: int, amount: str, day: int = 1) -> tuple:
    return (
        event_id,
        dt.datetime(2026, 3, day, 9, minute, tzinfo=UTC),
        Decimal(amount),
        dt.date(2026, 3, day),
    )


@pytest.fixture
def writer(tmp_path: Path) -> DeltaRsWriter:
    return DeltaRsWriter(Settings(lake_root=str(tmp_path / "lake")))


def events_df(spark: SparkSession, rows: list[tuple]) -> DataFrame:
    return spark.createDataFrame(rows, EVENT_SCHEMA)


def stored(spark: SparkSession, writer: DeltaRsWriter, spec: TableSpec) -> DataFrame:
    table = writer.read_arrow(spec)
    assert table is not None
    return spark.createDataFrame(table)


def test_append_is_idempotent_per_txn(spark: SparkSession, writer: DeltaRsWriter) -> None:
    first = events_df(spark, [event("e1", 0, "1.50"), event("e2", 1, "2.25")])
    second = events_df(spark, [event("e3", 2, "3.00")])

    assert writer.append(EVENTS, first, BatchTxn("sales", 0)) is True
    assert writer.append(EVENTS, first, BatchTxn("sales", 0)) is False  # replay after a crash
    assert writer.append(EVENTS, second, BatchTxn("sales", 1)) is True
    assert writer.append(EVENTS, first, BatchTxn("sales", 0)) is False  # older than the last

    expected = events_df(
        spark, [event("e1", 0, "1.50"), event("e2", 1, "2.25"), event("e3", 2, "3.00")]
    )
    assert_df_equality(stored(spark, writer, EVENTS), expected, ignore_row_order=True)
    assert writer.is_committed(EVENTS, BatchTxn("sales", 1))
    assert not writer.is_committed(EVENTS, BatchTxn("sales", 2))
    assert not writer.is_committed(EVENTS, BatchTxn("other-query", 0))


def test_empty_batch_writes_nothing(spark: SparkSession, writer: DeltaRsWriter) -> None:
    assert writer.append(EVENTS, events_df(spark, []), BatchTxn("sales", 0)) is False
    assert not writer.exists(EVENTS)
    assert writer.read_arrow(EVENTS) is None
    assert not writer.is_committed(EVENTS, BatchTxn("sales", 0))


def test_table_is_partitioned_by_its_spec(spark: SparkSession, writer: DeltaRsWriter) -> None:
    rows = [event("e1", 0, "1.00", day=1), event("e2", 0, "2.00", day=2)]
    writer.append(EVENTS, events_df(spark, rows), BatchTxn("sales", 0))

    table = DeltaTable(writer.uri(EVENTS))
    assert table.metadata().partition_columns == ["ingest_date"]
    assert table.metadata().name == "events"
    folders = sorted(p.name for p in Path(writer.uri(EVENTS)).iterdir() if p.is_dir())
    assert folders == ["_delta_log", "ingest_date=2026-03-01", "ingest_date=2026-03-02"]


def test_read_arrow_with_columns_and_where(spark: SparkSession, writer: DeltaRsWriter) -> None:
    rows = [event("e1", 0, "1.00", day=1), event("e2", 5, "2.00", day=2), event("e3", 9, "3.00")]
    writer.append(EVENTS, events_df(spark, rows), BatchTxn("sales", 0))

    on_day_two = writer.read_arrow(EVENTS, ["event_id", "amount"], "ingest_date = '2026-03-02'")
    assert on_day_two == pa.table(
        {"event_id": ["e2"], "amount": pa.array([Decimal("2.00")], pa.decimal128(12, 2))}
    )
    later = writer.read_arrow(
        EVENTS, ["event_time", "event_id"], "event_time >= '2026-03-01T09:05:00+00:00'"
    )
    assert later is not None
    assert sorted(later.to_pylist(), key=lambda r: r["event_id"]) == [
        {"event_time": dt.datetime(2026, 3, 2, 9, 5, tzinfo=UTC), "event_id": "e2"},
        {"event_time": dt.datetime(2026, 3, 1, 9, 9, tzinfo=UTC), "event_id": "e3"},
    ]
    assert writer.read_arrow(EVENTS, None, "event_id IN ('e1', 'nope')").num_rows == 1
    with pytest.raises(KeyError, match="no column"):
        writer.read_arrow(EVENTS, ["event_id", "missing"])


def test_read_arrow_returns_the_table_types(spark: SparkSession, writer: DeltaRsWriter) -> None:
    writer.append(EVENTS, events_df(spark, [event("e1", 0, "1.00")]), BatchTxn("sales", 0))
    table = writer.read_arrow(EVENTS)
    assert table is not None
    # string, not DataFusion's string_view: Spark and pandas take it as it is
    assert table.schema == pa.schema(
        [
            ("event_id", pa.string()),
            ("event_time", pa.timestamp("us", tz="UTC")),
            ("amount", pa.decimal128(12, 2)),
            ("ingest_date", pa.date32()),
        ]
    )


def test_batches_with_drifting_arrow_schemas_still_append(
    spark: SparkSession, writer: DeltaRsWriter
) -> None:
    spec = TableSpec("ops", "batches", "test")
    # literals are "not null" and int-typed in Spark's plan for this first batch
    first = spark.sql(
        "SELECT 'q1' AS query_name, 0 AS batch_id, CAST(1.50 AS DECIMAL(18,2)) AS cost, "
        "array(named_struct('k', 1)) AS tags"
    )
    second = spark.createDataFrame(
        [(None, 1, None, None)],
        "query_name string, batch_id long, cost decimal(18,2), tags array<struct<k:int>>",
    )
    assert writer.append(spec, first, BatchTxn("q", 0))
    assert writer.append(spec, second, BatchTxn("q", 1))

    table = writer.read_arrow(spec)
    assert table is not None
    assert table.schema == pa.schema(
        [
            ("query_name", pa.string()),
            ("batch_id", pa.int32()),
            ("cost", pa.decimal128(18, 2)),
            ("tags", pa.list_(pa.field("element", pa.struct([("k", pa.int32())])))),
        ]
    )
    assert sorted(table.to_pylist(), key=lambda r: r["batch_id"]) == [
        {"query_name": "q1", "batch_id": 0, "cost": Decimal("1.50"), "tags": [{"k": 1}]},
        {"query_name": None, "batch_id": 1, "cost": None, "tags": None},
    ]


def test_a_batch_with_unknown_columns_is_refused(
    spark: SparkSession, writer: DeltaRsWriter
) -> None:
    spec = TableSpec("ops", "narrow", "test")
    writer.append(spec, spark.sql("SELECT 1 AS a"), BatchTxn("q", 0))
    with pytest.raises(TableSchemaMismatch, match=r"lacks: \['b'\]"):
        writer.append(spec, spark.sql("SELECT 2 AS a, 3 AS b"), BatchTxn("q", 1))
    assert not writer.is_committed(spec, BatchTxn("q", 1))


def test_concurrent_appends_from_threads_lose_nothing(
    spark: SparkSession, writer: DeltaRsWriter
) -> None:
    queries, batches = 4, 3
    frames = {
        (q, b): spark.createDataFrame(
            [(f"query{q}", b, i) for i in range(2)], "query string, batch long, row int"
        )
        for q in range(queries)
        for b in range(batches)
    }
    errors: list[BaseException] = []

    def run_query(q: int) -> None:
        try:
            for b in range(batches):
                assert writer.append(SHARED, frames[(q, b)], BatchTxn(f"query{q}", b))
        except BaseException as error:  # surfaced in the main thread below
            errors.append(error)

    threads = [threading.Thread(target=run_query, args=(q,)) for q in range(queries)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    expected = spark.createDataFrame(
        [(f"query{q}", b, i) for q in range(queries) for b in range(batches) for i in range(2)],
        "query string, batch long, row int",
    )
    assert_df_equality(stored(spark, writer, SHARED), expected, ignore_row_order=True)
    table = DeltaTable(writer.uri(SHARED))
    assert [table.transaction_version(f"query{q}") for q in range(queries)] == [2, 2, 2, 2]


def test_compact_merges_small_files(spark: SparkSession, writer: DeltaRsWriter) -> None:
    spec = TableSpec("silver", "small_files", "test")
    for b in range(3):
        writer.append(spec, spark.createDataFrame([(b,)], "n long"), BatchTxn("q", b))
    assert len(DeltaTable(writer.uri(spec)).file_uris()) == 3

    result = writer.compact(spec, retention_hours=0)

    assert result == {"files_added": 1, "files_removed": 3, "files_vacuumed": 3}
    assert len(DeltaTable(writer.uri(spec)).file_uris()) == 1
    assert sorted(writer.read_arrow(spec).column("n").to_pylist()) == [0, 1, 2]
    assert writer.is_committed(spec, BatchTxn("q", 2))  # app transactions survive OPTIMIZE
