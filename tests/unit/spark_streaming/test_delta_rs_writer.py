"""DeltaRsWriter appends and reads Arrow batches on real Delta tables in a temporary folder."""

from __future__ import annotations

import datetime as dt
import json
import threading
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pytest
from deltalake import DeltaTable
from lake_support import assert_tables_equal

from retail_lakehouse.settings import Settings
from retail_lakehouse.tables import TableSpec
from spark_streaming.delta_rs_writer import DeltaRsWriter, TableSchemaMismatch
from spark_streaming.lake_writer import BatchTxn

UTC = dt.UTC
EVENTS = TableSpec("bronze", "events", "test events", partition_by=("ingest_date",))
SHARED = TableSpec("silver", "shared_quarantine", "one table, several writers")

EVENT_SCHEMA = pa.schema(
    [
        ("event_id", pa.string()),
        ("event_time", pa.timestamp("us", tz="UTC")),
        ("amount", pa.decimal128(12, 2)),
        ("ingest_date", pa.date32()),
    ]
)
SHARED_SCHEMA = pa.schema([("query", pa.string()), ("batch", pa.int64()), ("row", pa.int32())])


def event(event_id: str, minute: int, amount: str, day: int = 1) -> tuple:
    return (
        event_id,
        dt.datetime(2026, 3, day, 9, minute, tzinfo=UTC),
        Decimal(amount),
        dt.date(2026, 3, day),
    )


def rows(schema: pa.Schema, tuples: list[tuple]) -> pa.Table:
    return pa.Table.from_pylist([dict(zip(schema.names, t, strict=True)) for t in tuples], schema)


def events(tuples: list[tuple]) -> pa.Table:
    return rows(EVENT_SCHEMA, tuples)


@pytest.fixture
def writer(tmp_path: Path) -> DeltaRsWriter:
    return DeltaRsWriter(Settings(lake_root=str(tmp_path / "lake")))


def test_append_is_idempotent_per_txn(writer: DeltaRsWriter) -> None:
    first = events([event("e1", 0, "1.50"), event("e2", 1, "2.25")])
    second = events([event("e3", 2, "3.00")])

    assert writer.append(EVENTS, first, BatchTxn("sales", 0)) is True
    assert writer.append(EVENTS, first, BatchTxn("sales", 0)) is False  # replay after a crash
    assert writer.append(EVENTS, second, BatchTxn("sales", 1)) is True
    assert writer.append(EVENTS, first, BatchTxn("sales", 0)) is False  # older than the last

    expected = events([event("e1", 0, "1.50"), event("e2", 1, "2.25"), event("e3", 2, "3.00")])
    assert_tables_equal(writer.read_arrow(EVENTS), expected, keys=["event_id"])
    assert writer.is_committed(EVENTS, BatchTxn("sales", 1))
    assert not writer.is_committed(EVENTS, BatchTxn("sales", 2))
    assert not writer.is_committed(EVENTS, BatchTxn("other-query", 0))


def test_empty_batch_writes_nothing(writer: DeltaRsWriter) -> None:
    assert writer.append(EVENTS, EVENT_SCHEMA.empty_table(), BatchTxn("sales", 0)) is False
    assert not writer.exists(EVENTS)
    assert writer.read_arrow(EVENTS) is None
    assert not writer.is_committed(EVENTS, BatchTxn("sales", 0))


def test_table_is_partitioned_by_its_spec(writer: DeltaRsWriter) -> None:
    batch = events([event("e1", 0, "1.00", day=1), event("e2", 0, "2.00", day=2)])
    writer.append(EVENTS, batch, BatchTxn("sales", 0))

    table = DeltaTable(writer.uri(EVENTS))
    assert table.metadata().partition_columns == ["ingest_date"]
    assert table.metadata().name == "events"
    folders = sorted(p.name for p in Path(writer.uri(EVENTS)).iterdir() if p.is_dir())
    assert folders == ["_delta_log", "ingest_date=2026-03-01", "ingest_date=2026-03-02"]


def test_a_table_partitioned_by_a_column_the_batch_lacks_is_not_created(
    writer: DeltaRsWriter,
) -> None:
    batch = pa.table({"event_id": ["e1"]})
    with pytest.raises(ValueError, match=r"partitioned by \['ingest_date'\]"):
        writer.append(EVENTS, batch, BatchTxn("sales", 0))
    assert not writer.exists(EVENTS)


def test_read_arrow_with_columns_and_where(writer: DeltaRsWriter) -> None:
    batch = events(
        [event("e1", 0, "1.00", day=1), event("e2", 5, "2.00", day=2), event("e3", 9, "3.00")]
    )
    writer.append(EVENTS, batch, BatchTxn("sales", 0))

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
    some = writer.read_arrow(EVENTS, None, "event_id IN ('e1', 'nope')")
    assert some == events([event("e1", 0, "1.00", day=1)])
    with pytest.raises(KeyError, match="no column"):
        writer.read_arrow(EVENTS, ["event_id", "missing"])


def test_read_arrow_returns_the_table_types(writer: DeltaRsWriter) -> None:
    writer.append(EVENTS, events([event("e1", 0, "1.00")]), BatchTxn("sales", 0))
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


def test_batches_with_drifting_arrow_schemas_still_append(writer: DeltaRsWriter) -> None:
    spec = TableSpec("ops", "batches", "test")
    # the first batch's columns are "not null" and its batch_id an int32; the second's
    # are nullable, its batch_id an int64 and its timestamp in nanoseconds
    tag = pa.struct([pa.field("k", pa.int32(), nullable=False)])
    first = pa.table(
        {
            "query_name": pa.array(["q1"], pa.string()),
            "batch_id": pa.array([0], pa.int32()),
            "cost": pa.array([Decimal("1.50")], pa.decimal128(18, 2)),
            "tags": pa.array([[{"k": 1}]], pa.list_(pa.field("element", tag, nullable=False))),
            "seen_at": pa.array(
                [dt.datetime(2026, 3, 1, 9, tzinfo=UTC)], pa.timestamp("us", "UTC")
            ),
        },
        schema=pa.schema(
            [
                pa.field("query_name", pa.string(), nullable=False),
                pa.field("batch_id", pa.int32(), nullable=False),
                pa.field("cost", pa.decimal128(18, 2), nullable=False),
                pa.field("tags", pa.list_(pa.field("element", tag, nullable=False)), False),
                pa.field("seen_at", pa.timestamp("us", "UTC"), nullable=False),
            ]
        ),
    )
    second = pa.table(
        {
            "query_name": pa.nulls(1, pa.string()),
            "batch_id": pa.array([1], pa.int64()),
            "cost": pa.nulls(1, pa.decimal128(18, 2)),
            "tags": pa.nulls(1, pa.list_(pa.struct([("k", pa.int32())]))),
            "seen_at": pa.array(
                [dt.datetime(2026, 3, 1, 9, 1, tzinfo=UTC)], pa.timestamp("ns", "UTC")
            ),
        }
    )
    assert writer.append(spec, first, BatchTxn("q", 0))
    assert writer.append(spec, second, BatchTxn("q", 1))

    expected = pa.table(
        {
            "query_name": ["q1", None],
            "batch_id": pa.array([0, 1], pa.int32()),
            "cost": pa.array([Decimal("1.50"), None], pa.decimal128(18, 2)),
            "tags": pa.array(
                [[{"k": 1}], None], pa.list_(pa.field("element", pa.struct([("k", pa.int32())])))
            ),
            "seen_at": pa.array(
                [dt.datetime(2026, 3, 1, 9, tzinfo=UTC), dt.datetime(2026, 3, 1, 9, 1, tzinfo=UTC)],
                pa.timestamp("us", "UTC"),
            ),
        }
    )
    assert_tables_equal(writer.read_arrow(spec), expected, keys=["batch_id"])


def test_a_batch_with_unknown_columns_is_refused(writer: DeltaRsWriter) -> None:
    spec = TableSpec("ops", "narrow", "test")
    writer.append(spec, pa.table({"a": [1]}), BatchTxn("q", 0))
    with pytest.raises(TableSchemaMismatch, match=r"lacks: \['b'\]"):
        writer.append(spec, pa.table({"a": [2], "b": [3]}), BatchTxn("q", 1))
    assert not writer.is_committed(spec, BatchTxn("q", 1))


def test_a_batch_missing_a_column_appends_nulls_there(writer: DeltaRsWriter) -> None:
    spec = TableSpec("ops", "wide", "test")
    writer.append(spec, pa.table({"a": [1], "b": ["x"]}), BatchTxn("q", 0))
    writer.append(spec, pa.table({"a": [2]}), BatchTxn("q", 1))

    expected = pa.table({"a": [1, 2], "b": ["x", None]})
    assert_tables_equal(writer.read_arrow(spec), expected, keys=["a"])


def test_concurrent_appends_from_threads_lose_nothing(writer: DeltaRsWriter) -> None:
    queries, batches = 4, 3
    tables = {
        (q, b): rows(SHARED_SCHEMA, [(f"query{q}", b, i) for i in range(2)])
        for q in range(queries)
        for b in range(batches)
    }
    errors: list[BaseException] = []

    def run_query(q: int) -> None:
        try:
            for b in range(batches):
                assert writer.append(SHARED, tables[(q, b)], BatchTxn(f"query{q}", b))
        except BaseException as error:  # surfaced in the main thread below
            errors.append(error)

    threads = [threading.Thread(target=run_query, args=(q,)) for q in range(queries)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    expected = rows(
        SHARED_SCHEMA,
        [(f"query{q}", b, i) for q in range(queries) for b in range(batches) for i in range(2)],
    )
    assert_tables_equal(writer.read_arrow(SHARED), expected, keys=["query", "batch", "row"])
    table = DeltaTable(writer.uri(SHARED))
    assert [table.transaction_version(f"query{q}") for q in range(queries)] == [2, 2, 2, 2]


def test_compact_merges_small_files(writer: DeltaRsWriter) -> None:
    spec = TableSpec("silver", "small_files", "test")
    for b in range(3):
        writer.append(spec, pa.table({"n": [b]}), BatchTxn("q", b))
    assert len(DeltaTable(writer.uri(spec)).file_uris()) == 3

    result = writer.compact(spec, retention_hours=0)

    assert result == {"files_added": 1, "files_removed": 3, "files_vacuumed": 3}
    assert len(DeltaTable(writer.uri(spec)).file_uris()) == 1
    assert_tables_equal(writer.read_arrow(spec), pa.table({"n": [0, 1, 2]}), keys=["n"])
    assert writer.is_committed(spec, BatchTxn("q", 2))  # app transactions survive OPTIMIZE


def test_a_batch_note_lands_in_its_commit_and_reads_back_newest_first(
    writer: DeltaRsWriter,
) -> None:
    spec = TableSpec("silver", "noted", "test")
    assert writer.user_metadata(spec) == []  # no table yet
    older = '{"retail.sales": {"0": 2}}'
    newer = '{"retail.sales": {"0": 5, "1": 1}}'
    writer.append(spec, pa.table({"n": [0]}), BatchTxn("q", 0, metadata=older))
    writer.append(spec, pa.table({"n": [1]}), BatchTxn("q", 1))  # a batch without a note
    writer.append(spec, pa.table({"n": [2]}), BatchTxn("q", 2, metadata=newer))

    # commitInfo.userMetadata, the field delta-spark's userMetadata option fills
    log = Path(writer.uri(spec)) / "_delta_log"
    notes = {}
    for commit in sorted(log.glob("*.json")):
        infos = [json.loads(line) for line in commit.read_text().splitlines()]
        info = next(a["commitInfo"] for a in infos if "commitInfo" in a)
        notes[int(commit.stem)] = info.get("userMetadata")
    assert notes == {0: None, 1: older, 2: None, 3: newer}

    assert writer.user_metadata(spec) == [newer, older]
    # `limit` counts commits, with or without a note
    assert writer.user_metadata(spec, limit=1) == [newer]
    assert writer.user_metadata(spec, limit=2) == [newer]
    assert writer.user_metadata(spec, limit=3) == [newer, older]

    writer.compact(spec, retention_hours=0)  # commits of its own, without a note
    newest = DeltaTable(writer.uri(spec)).history(3)
    assert "OPTIMIZE" in [c["operation"] for c in newest]
    assert [c.get("userMetadata") for c in newest] == [None, None, None]
    assert writer.user_metadata(spec) == [newer, older]
    # a replayed batch writes nothing, so its note is not added again
    assert writer.append(spec, pa.table({"n": [2]}), BatchTxn("q", 2, metadata="again")) is False
    assert writer.user_metadata(spec) == [newer, older]
