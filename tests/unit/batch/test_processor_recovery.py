"""The batch processor replaying a half-committed batch, on real Delta tables.

A batch whose inventory changes reached silver but whose stock counts did not is
replayed after a restart. The watermark of the replay must be the one the batch first
ran with (recovered from the last complete batch), not one that already counts the
replayed batch's own changes; and a resend whose event_time changed is still the same
event."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pytest
from batch_support import lake_rows, payload

from retail_lakehouse import tables
from retail_lakehouse.settings import Settings
from spark_streaming.batch.plans import PLANS
from spark_streaming.batch.processor import PipelineBatchProcessor
from spark_streaming.delta_rs_writer import DeltaRsWriter
from spark_streaming.generated_source import ARROW_SCHEMA
from spark_streaming.transforms.validation import validated_records

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
TOPIC = "inv"


def change(event_id: str, at: datetime, quantity: int = -1) -> bytes:
    return payload(
        event_id,
        "inventory_change",
        at,
        trans_id=f"t-{event_id}",
        store_id=7,
        change_type="sale",
        items=[{"product_id": 11, "quantity": quantity}],
    )


def count(event_id: str, at: datetime, quantity: int) -> bytes:
    return payload(
        event_id,
        "inventory_snapshot",
        at,
        store_id=7,
        items=[{"product_id": 11, "quantity": quantity}],
    )


def batch(spark, payloads: list[bytes], first_offset: int):
    rows = pa.Table.from_pylist(
        [
            {
                "key": b"7",
                "value": value,
                "topic": TOPIC,
                "partition": 0,
                "offset": first_offset + i,
                "timestamp": T0 + timedelta(hours=1),
                "timestampType": 0,
            }
            for i, value in enumerate(payloads)
        ],
        schema=ARROW_SCHEMA,
    )
    return validated_records(spark.createDataFrame(rows), {TOPIC: PLANS["inventory"].family})


class RefusesCounts(DeltaRsWriter):
    """Commits everything but the stock counts, as a crash between the two would."""

    def append(self, spec, rows, txn):  # type: ignore[no-untyped-def]
        if spec == tables.SILVER_INVENTORY_SNAPSHOTS:
            raise OSError("the store went away")
        return super().append(spec, rows, txn)


def processor(settings: Settings, writer: DeltaRsWriter) -> PipelineBatchProcessor:
    running = PipelineBatchProcessor([PLANS["inventory"]], settings, writer)
    running.bind("query-1")  # the same query (checkpoint) before and after the restart
    return running


def test_a_replayed_batch_keeps_the_watermark_it_first_ran_with(spark, tmp_path: Path) -> None:
    settings = Settings(lake_root=str(tmp_path / "lake"), topic_inventory=TOPIC, _env_file=None)  # type: ignore[call-arg]
    first = processor(settings, DeltaRsWriter(settings))
    first(batch(spark, [change("c0", T0), count("s0", T0, 40)], 0), 0)

    # batch 1: a count at T0+5min and a change at T0+10min; the count never commits
    payloads = [
        count("s1", T0 + timedelta(minutes=5), 30),
        change("c1", T0 + timedelta(minutes=10)),
    ]
    with pytest.raises(OSError, match="went away"):
        processor(settings, RefusesCounts(settings))(batch(spark, payloads, 2), 1)
    assert sorted(r["event_id"] for r in lake_rows(settings, tables.SILVER_INVENTORY_CHANGES)) == [
        "c0",
        "c1",
    ]

    # the restart replays batch 1 with the watermark batch 0 left: T0 - 2 minutes
    processor(settings, DeltaRsWriter(settings))(batch(spark, payloads, 2), 1)

    counts = {
        r["event_id"]: r["is_late"] for r in lake_rows(settings, tables.SILVER_INVENTORY_SNAPSHOTS)
    }
    assert counts == {"s0": False, "s1": False}
    ops = {r["batch_id"]: r for r in lake_rows(settings, tables.STREAM_BATCHES)}
    assert ops[1]["watermark"] == T0 - timedelta(minutes=2)
    assert ops[1]["max_event_time"] == T0 + timedelta(minutes=10)
    levels = lake_rows(settings, tables.INVENTORY_LEVELS)
    # count 30 at T0+5 plus the change at T0+10: each applied once
    assert [(r["on_hand"], r["last_snapshot_at"]) for r in levels] == [
        (29, T0 + timedelta(minutes=5))
    ]


def test_a_resend_with_a_new_event_time_is_still_a_duplicate(spark, tmp_path: Path) -> None:
    settings = Settings(lake_root=str(tmp_path / "lake"), topic_inventory=TOPIC, _env_file=None)  # type: ignore[call-arg]
    running = processor(settings, DeltaRsWriter(settings))
    running(batch(spark, [change("c0", T0)], 0), 0)
    # the till re-stamped the resend: same event id, event_time 7 seconds later
    running(batch(spark, [change("c0", T0 + timedelta(seconds=7))], 1), 1)

    stored = lake_rows(settings, tables.SILVER_INVENTORY_CHANGES)
    assert [(r["event_id"], r["kafka_offset"]) for r in stored] == [("c0", 0)]
    assert sum(r["duplicate_events"] for r in lake_rows(settings, tables.STREAM_BATCHES)) == 1


def test_late_resends_are_found_in_silver_which_is_read_once_per_minute(
    spark, tmp_path: Path
) -> None:
    settings = Settings(lake_root=str(tmp_path / "lake"), topic_inventory=TOPIC, _env_file=None)  # type: ignore[call-arg]
    running = processor(settings, DeltaRsWriter(settings))
    running(batch(spark, [change("c0", T0)], 0), 0)
    # the stream moves on half an hour: T0's minute leaves the de-duplication index
    running(batch(spark, [change("c1", T0 + timedelta(minutes=30))], 1), 1)
    # a resend of c0 and a new late event of the same minute (the index forgets it when
    # c2 moves the stream on), then a resend of that one and another late event: the
    # minute is read from silver once, and keeps what the job stored into it since
    late = T0 + timedelta(seconds=20)
    moved_on = change("c2", T0 + timedelta(minutes=31))
    running(batch(spark, [change("c0", T0), change("l1", late), moved_on], 2), 2)
    running(batch(spark, [change("l1", late), change("l2", T0)], 5), 3)

    stored = lake_rows(settings, tables.SILVER_INVENTORY_CHANGES)
    assert sorted((r["event_id"], r["kafka_offset"], r["is_late"]) for r in stored) == [
        ("c0", 0, False),
        ("c1", 1, False),
        ("c2", 4, False),
        ("l1", 3, True),
        ("l2", 6, True),
    ]
    ops = {r["batch_id"]: r["duplicate_events"] for r in lake_rows(settings, tables.STREAM_BATCHES)}
    assert ops == {0: 0, 1: 0, 2: 1, 3: 1}
    assert running.state is not None
    assert running.state["inventory"].silver.reads == 1
