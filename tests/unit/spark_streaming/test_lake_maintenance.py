"""Watermark recovery from file statistics, and compaction next to the streams."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from deltalake import DeltaTable
from pyspark.sql import SparkSession

from retail_lakehouse.settings import Settings
from retail_lakehouse.tables import TableSpec
from spark_streaming.delta_rs_writer import DeltaRsWriter
from spark_streaming.lake_writer import BatchTxn
from spark_streaming.maintenance import PeriodicMaintenance, maintain_tables

UTC = dt.UTC
SILVER = TableSpec("silver", "events", "test", partition_by=("event_date",))
SCHEMA = "event_id string, event_time timestamp, event_date date"


@pytest.fixture
def writer(tmp_path: Path) -> DeltaRsWriter:
    return DeltaRsWriter(Settings(lake_root=str(tmp_path / "lake")))


def at(day: int, hour: int) -> dt.datetime:
    return dt.datetime(2026, 3, day, hour, tzinfo=UTC)


def append_batches(spark: SparkSession, writer: DeltaRsWriter, spec: TableSpec) -> list:
    batches = [
        [("a", at(2, 9)), ("b", at(1, 23))],
        [("c", at(3, 1))],  # the latest
        [("d", at(2, 10))],  # a late event arrives last
    ]
    for batch_id, rows in enumerate(batches):
        frame = spark.createDataFrame([(i, t, t.date()) for i, t in rows], SCHEMA)
        writer.append(spec, frame, BatchTxn("q", batch_id))
    return [t for rows in batches for _, t in rows]


def test_max_value_comes_from_file_statistics(spark: SparkSession, writer: DeltaRsWriter) -> None:
    assert writer.max_value(SILVER, "event_time") is None  # no table yet
    times = append_batches(spark, writer, SILVER)

    assert writer.max_value(SILVER, "event_time") == max(times)
    writer.compact(SILVER, retention_hours=0)
    assert writer.max_value(SILVER, "event_time") == max(times)


def test_maintain_tables_compacts_each_table_and_skips_absent_ones(
    spark: SparkSession, writer: DeltaRsWriter
) -> None:
    times = append_batches(spark, writer, SILVER)
    absent = TableSpec("gold", "never_written", "test")
    files_before = len(DeltaTable(writer.uri(SILVER)).file_uris())

    outcome = maintain_tables(writer, [SILVER, absent], retention_hours=0)

    assert list(outcome) == ["silver.events"]
    # three days, three partitions: the two files of 2026-03-02 become one
    assert files_before == 4
    assert outcome["silver.events"]["files_removed"] == 2
    assert len(DeltaTable(writer.uri(SILVER)).file_uris()) == 3
    stored = writer.read_arrow(SILVER, ["event_time"])
    assert sorted(stored.column("event_time").to_pylist()) == sorted(times)
    assert writer.is_committed(SILVER, BatchTxn("q", 2))


def test_periodic_maintenance_runs_every_n_batches(
    spark: SparkSession, writer: DeltaRsWriter
) -> None:
    append_batches(spark, writer, SILVER)
    periodic = PeriodicMaintenance(writer, [SILVER], every_batches=3)

    started = []
    for b in range(7):
        started.append(periodic.after_batch(b))
        periodic.join(60)  # one run at a time; a run still going is never doubled

    assert started == [False, False, False, True, False, False, True]
    assert len(DeltaTable(writer.uri(SILVER)).file_uris()) == 3
    assert PeriodicMaintenance(writer, [SILVER], every_batches=0).after_batch(10) is False
