"""Watermark recovery from file statistics, and compaction next to the streams."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyarrow as pa
import pytest
from deltalake import DeltaTable

from retail_lakehouse.settings import Settings
from retail_lakehouse.tables import TableSpec
from spark_streaming.delta_rs_writer import DeltaRsWriter
from spark_streaming.lake_writer import BatchTxn
from spark_streaming.maintenance import PeriodicMaintenance, maintain_tables

UTC = dt.UTC
SILVER = TableSpec("silver", "events", "test", partition_by=("event_date",))
SCHEMA = pa.schema(
    [
        ("event_id", pa.string()),
        ("event_time", pa.timestamp("us", tz="UTC")),
        ("event_date", pa.date32()),
    ]
)


@pytest.fixture
def writer(tmp_path: Path) -> DeltaRsWriter:
    return DeltaRsWriter(Settings(lake_root=str(tmp_path / "lake")))


def at(day: int, hour: int) -> dt.datetime:
    return dt.datetime(2026, 3, day, hour, tzinfo=UTC)


def append_batches(writer: DeltaRsWriter, spec: TableSpec) -> None:
    batches = [
        [("a", at(2, 9)), ("b", at(1, 23))],
        [("c", at(3, 1))],  # the latest
        [("d", at(2, 10))],  # a late event arrives last
    ]
    for batch_id, rows in enumerate(batches):
        batch = pa.Table.from_pylist(
            [{"event_id": i, "event_time": t, "event_date": t.date()} for i, t in rows], SCHEMA
        )
        writer.append(spec, batch, BatchTxn("q", batch_id))


def test_max_value_comes_from_file_statistics(writer: DeltaRsWriter) -> None:
    assert writer.max_value(SILVER, "event_time") is None  # no table yet
    append_batches(writer, SILVER)

    assert writer.max_value(SILVER, "event_time") == at(3, 1)
    assert writer.max_value(SILVER, "event_id") == "d"
    writer.compact(SILVER, retention_hours=0)
    assert writer.max_value(SILVER, "event_time") == at(3, 1)


def test_maintain_tables_compacts_each_table_and_skips_absent_ones(writer: DeltaRsWriter) -> None:
    append_batches(writer, SILVER)
    absent = TableSpec("gold", "never_written", "test")
    files_before = len(DeltaTable(writer.uri(SILVER)).file_uris())

    outcome = maintain_tables(writer, [SILVER, absent], retention_hours=0)

    assert list(outcome) == ["silver.events"]
    # three days, three partitions: the two files of 2026-03-02 become one
    assert files_before == 4
    assert outcome["silver.events"]["files_removed"] == 2
    assert len(DeltaTable(writer.uri(SILVER)).file_uris()) == 3
    stored = writer.read_arrow(SILVER, ["event_id", "event_time"])
    assert stored is not None
    assert sorted(stored.to_pylist(), key=lambda r: r["event_id"]) == [
        {"event_id": "a", "event_time": at(2, 9)},
        {"event_id": "b", "event_time": at(1, 23)},
        {"event_id": "c", "event_time": at(3, 1)},
        {"event_id": "d", "event_time": at(2, 10)},
    ]
    assert writer.is_committed(SILVER, BatchTxn("q", 2))


def test_periodic_maintenance_runs_every_n_batches(writer: DeltaRsWriter) -> None:
    append_batches(writer, SILVER)
    periodic = PeriodicMaintenance(writer, [SILVER], every_batches=3)

    started = []
    for b in range(7):
        started.append(periodic.after_batch(b))
        periodic.join(60)  # one run at a time; a run still going is never doubled

    assert started == [False, False, False, True, False, False, True]
    assert len(DeltaTable(writer.uri(SILVER)).file_uris()) == 3
    assert PeriodicMaintenance(writer, [SILVER], every_batches=0).after_batch(10) is False
