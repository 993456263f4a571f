"""The delta-spark writer on real Delta tables, through the jars `make install` fetched;
every table is read back with delta-rs, not with the writer."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pytest
from deltalake import DeltaTable
from pyspark.sql import SparkSession

from retail_lakehouse.settings import Settings
from retail_lakehouse.tables import TableSpec
from spark_streaming import delta_spark_writer
from spark_streaming.delta_spark_writer import (
    TXN_APP_ID_CONF,
    TXN_VERSION_CONF,
    DeltaSparkWriter,
    idempotent_dml,
)
from spark_streaming.lake_writer import BatchTxn, MergeSpec

BY_STORE = TableSpec("gold", "by_store", "test", keys=("window_start", "store_id"))
BY_PRODUCT = TableSpec("gold", "by_product", "test", keys=("window_start", "product_id"))
RAW = TableSpec("bronze", "raw", "test", partition_by=("ingest_date",))
ADDITIVE = MergeSpec(keys=BY_STORE.keys, updates={"orders": "t.orders + s.orders"})
MINUTE = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def writer(spark: SparkSession, tmp_path: Path) -> DeltaSparkWriter:
    return DeltaSparkWriter(spark, Settings(lake_root=str(tmp_path), _env_file=None))  # type: ignore[call-arg]


def stored(writer: DeltaSparkWriter, spec: TableSpec) -> DeltaTable:
    return DeltaTable(writer.path(spec))


def orders(key: str, **counts: int) -> pa.Table:
    return pa.table(
        {
            "window_start": pa.array([MINUTE] * len(counts), pa.timestamp("us", tz="UTC")),
            key: pa.array([int(k.removeprefix("id")) for k in counts], pa.int32()),
            "orders": pa.array(list(counts.values()), pa.int64()),
        }
    )


def test_append_commits_once_per_txn_with_the_batch_note(writer: DeltaSparkWriter) -> None:
    rows = pa.table(
        {
            "value": [b"a", b"b"],
            "amount": pa.array([Decimal("1.50"), Decimal("2.25")], pa.decimal128(12, 2)),
            "ingest_date": pa.array([MINUTE.date()] * 2, pa.date32()),
        }
    )
    txn = BatchTxn("sales-q", 3, metadata='{"offsets":{"t":{"0":2}}}')

    assert writer.append(RAW, rows, txn) is True
    assert writer.append(RAW, rows, txn) is False  # a replayed batch is skipped

    table = stored(writer, RAW)
    assert table.metadata().partition_columns == ["ingest_date"]
    assert sorted(table.to_pyarrow_table()["value"].to_pylist()) == [b"a", b"b"]
    assert table.transaction_version("sales-q") == 3
    assert writer.user_metadata(RAW) == ['{"offsets":{"t":{"0":2}}}']


def test_merge_adds_to_stored_windows_and_skips_a_replay(writer: DeltaSparkWriter) -> None:
    assert writer.merge(BY_STORE, orders("store_id", id1=2, id2=1), ADDITIVE, BatchTxn("q", 0))
    assert writer.merge(BY_STORE, orders("store_id", id1=3), ADDITIVE, BatchTxn("q", 1))
    assert not writer.merge(BY_STORE, orders("store_id", id1=3), ADDITIVE, BatchTxn("q", 1))

    rows = stored(writer, BY_STORE).to_pyarrow_table().sort_by("store_id")
    assert rows.select(["store_id", "orders"]).to_pylist() == [
        {"store_id": 1, "orders": 5},
        {"store_id": 2, "orders": 1},
    ]
    assert stored(writer, BY_STORE).transaction_version("q") == 1


def test_an_empty_batch_creates_nothing(writer: DeltaSparkWriter) -> None:
    assert (
        writer.merge(BY_STORE, orders("store_id").slice(0, 0), ADDITIVE, BatchTxn("q", 0)) is False
    )
    assert not writer.exists(BY_STORE)


def test_idempotent_dml_settings_are_cleared_after(spark: SparkSession) -> None:
    session = spark.newSession()
    with idempotent_dml(session, BatchTxn("gold-q", 7)):
        assert session.conf.get(TXN_APP_ID_CONF) == "gold-q"
        assert session.conf.get(TXN_VERSION_CONF) == "7"
    assert session.conf.get(TXN_APP_ID_CONF, None) is None
    assert session.conf.get(TXN_VERSION_CONF, None) is None


def test_a_merge_finishing_first_does_not_strip_the_other_merges_txn(
    writer: DeltaSparkWriter, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The interleaving a batch's parallel gold merges can take: merge B has set its
    idempotent-DML settings and is still running when merge A starts, commits and
    clears its own. Delta reads the settings again when B commits; had A cleared them
    on a session B shares, B would commit without its transaction, and a replay after
    a crash would add B's increment twice."""
    original = delta_spark_writer.idempotent_dml
    b_inside, a_done = threading.Event(), threading.Event()

    @contextmanager
    def interleaved(session: SparkSession, txn: BatchTxn) -> Iterator[None]:
        with original(session, txn):
            if txn.app_id == "b":
                b_inside.set()
                assert a_done.wait(120), "merge A never finished"
            yield
        if txn.app_id == "a":
            a_done.set()

    monkeypatch.setattr(delta_spark_writer, "idempotent_dml", interleaved)
    failures: list[BaseException] = []

    def merge_b() -> None:
        try:
            writer.merge(
                BY_PRODUCT, orders("product_id", id7=1), ADDITIVE_BY_PRODUCT, BatchTxn("b", 4)
            )
        except BaseException as error:  # surfaced below
            failures.append(error)

    thread = threading.Thread(target=merge_b)
    thread.start()
    assert b_inside.wait(120), "merge B never started"
    writer.merge(BY_STORE, orders("store_id", id1=1), ADDITIVE, BatchTxn("a", 4))
    thread.join(180)
    assert not failures, failures

    assert stored(writer, BY_STORE).transaction_version("a") == 4
    assert stored(writer, BY_PRODUCT).transaction_version("b") == 4
    # so a replay of B's batch is skipped instead of adding its orders again
    assert not writer.merge(
        BY_PRODUCT, orders("product_id", id7=1), ADDITIVE_BY_PRODUCT, BatchTxn("b", 4)
    )
    assert stored(writer, BY_PRODUCT).to_pyarrow_table()["orders"].to_pylist() == [1]


ADDITIVE_BY_PRODUCT = MergeSpec(keys=BY_PRODUCT.keys, updates={"orders": "t.orders + s.orders"})


def test_tables_the_warehouse_loads_carry_the_change_data_feed(
    writer: DeltaSparkWriter, tmp_path: Path
) -> None:
    from retail_lakehouse import tables
    from spark_streaming.delta_rs_writer import DeltaRsWriter

    rows = orders("store_id", id1=1)
    writer.merge(tables.SALES_BY_STORE_MINUTE, rows, ADDITIVE, BatchTxn("q", 0))
    spark_made = stored(writer, tables.SALES_BY_STORE_MINUTE).metadata().configuration
    assert spark_made.get("delta.enableChangeDataFeed") == "true"

    rs = DeltaRsWriter(Settings(lake_root=str(tmp_path / "rs"), _env_file=None))  # type: ignore[call-arg]
    rs.merge(tables.SALES_BY_STORE_MINUTE, rows, ADDITIVE, BatchTxn("q", 0))
    rs_made = DeltaTable(rs.uri(tables.SALES_BY_STORE_MINUTE)).metadata().configuration
    assert rs_made.get("delta.enableChangeDataFeed") == "true"
