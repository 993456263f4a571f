"""Gold on the critical path: a family's gold merges start as soon as that family is
prepared, while the next family is still being prepared, on real Delta tables."""

from __future__ import annotations

import threading
import time
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
SALES, INVENTORY = "sales", "inv"


SALE = payload(
    "s-1",
    "sale",
    T0,
    transaction_id="t-1",
    store_id=7,
    channel="store",
    customer_id=5,
    payment_type="card",
    lines=[{"line_number": 1, "product_id": 11, "quantity": 2, "unit_price": 3.5, "discount": 0}],
)
CHANGE = payload(
    "c-1",
    "inventory_change",
    T0,
    trans_id="t-1",
    store_id=7,
    change_type="sale",
    items=[{"product_id": 11, "quantity": -2}],
)


def batch(spark):  # type: ignore[no-untyped-def]
    rows = pa.Table.from_pylist(
        [
            {
                "key": b"7",
                "value": value,
                "topic": topic,
                "partition": 0,
                "offset": 0,
                "timestamp": T0 + timedelta(seconds=1),
                "timestampType": 0,
            }
            for topic, value in ((SALES, SALE), (INVENTORY, CHANGE))
        ],
        schema=ARROW_SCHEMA,
    )
    families = {SALES: PLANS["sales"].family, INVENTORY: PLANS["inventory"].family}
    return validated_records(spark.createDataFrame(rows), families)


class SlowGold(DeltaRsWriter):
    """Says when the sales gold merge starts, and holds it a moment before writing."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self.gold_started = threading.Event()
        self.gold_written = threading.Event()

    def merge(self, spec, rows, merge, txn):  # type: ignore[no-untyped-def]
        if spec != tables.SALES_BY_PRODUCT_MINUTE:
            return super().merge(spec, rows, merge, txn)
        self.gold_started.set()
        time.sleep(0.5)
        done = super().merge(spec, rows, merge, txn)
        self.gold_written.set()
        return done


class Watched(PipelineBatchProcessor):
    """Notes whether sales gold was being written while inventory was prepared."""

    gold_during_inventory: bool | None = None
    fail_inventory = False

    def _prepare(self, topic, *args):  # type: ignore[no-untyped-def]
        if topic == INVENTORY:
            assert isinstance(self.writer, SlowGold)
            self.gold_during_inventory = self.writer.gold_started.wait(timeout=10)
            if self.fail_inventory:
                raise RuntimeError("inventory could not be prepared")
        return super()._prepare(topic, *args)


def processor(tmp_path: Path) -> tuple[Watched, SlowGold, Settings]:
    settings = Settings(
        lake_root=str(tmp_path / "lake"),
        topic_sales=SALES,
        topic_inventory=INVENTORY,
        _env_file=None,
    )  # type: ignore[call-arg]
    writer = SlowGold(settings)
    running = Watched([PLANS["sales"], PLANS["inventory"]], settings, writer)
    running.bind("query-1")
    return running, writer, settings


def test_sales_gold_is_written_while_inventory_is_prepared(spark, tmp_path: Path) -> None:
    running, _, settings = processor(tmp_path)
    running(batch(spark), 0)
    assert running.gold_during_inventory is True
    gold = lake_rows(settings, tables.SALES_BY_PRODUCT_MINUTE)
    assert [(r["product_id"], r["units"]) for r in gold] == [(11, 2)]
    assert [r["event_id"] for r in lake_rows(settings, tables.SILVER_INVENTORY_CHANGES)] == ["c-1"]


def test_a_failed_family_waits_for_the_gold_already_in_flight(spark, tmp_path: Path) -> None:
    running, writer, _ = processor(tmp_path)
    running.fail_inventory = True
    with pytest.raises(RuntimeError, match="could not be prepared"):
        running(batch(spark), 0)
    assert running.gold_during_inventory is True  # the merge really was in flight
    assert writer.gold_written.is_set()  # and finished before the batch failed
