"""A small lake for the loader tests, written by the project's own Delta writer
(spark_streaming.delta_rs_writer.DeltaRsWriter: app transactions, appends for silver,
quarantine and ops, MERGE upserts for gold) from seeded producer messages.

Silver and gold rows are computed with the independent expectations the pipeline tests
use (plain Python and DuckDB), one "micro-batch" of messages at a time, so the tables
get several Delta versions and the gold tables get rewritten by MERGE like the real job.

With `change_data_feed` (the default) every table is created first with the catalog's
`spec.delta_properties`, as the streaming writers create them, so its MERGEs write
change data files; without it the tables are what a writer that predates the property
made, and the loader reads their add and remove actions instead.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

import pyarrow as pa
import pyarrow.compute as pc
from deltalake import DeltaTable
from lakehouse_expectations import (
    clicks_table,
    expected_sales_lines,
    gold_funnel,
    gold_inventory_levels,
    gold_sales_by_product,
    gold_sales_by_store,
    sales_lines_table,
    ts,
    unique_valid_events,
)

from producer.malformed import MALFORMED_KINDS
from producer.messages import OutboundMessage
from producer.reference_tables import products_table
from retail_lakehouse import tables
from retail_lakehouse.settings import Settings
from spark_streaming.delta_rs_writer import DeltaRsWriter, delta_schema
from spark_streaming.lake_writer import BatchTxn, MergeSpec

INVENTORY_SCHEMA = pa.schema(
    [
        ("event_id", pa.string()),
        ("event_time", pa.timestamp("us")),
        ("store_id", pa.int32()),
        ("product_id", pa.int64()),
        ("quantity", pa.int32()),
    ]
)


def _inventory(valid, event_type: str) -> pa.Table:
    rows = [
        {
            "event_id": e["event_id"],
            "event_time": ts(e["event_time"]),
            "store_id": e["store_id"],
            "product_id": item["product_id"],
            "quantity": item["quantity"],
        }
        for _, e in valid
        if e["event_type"] == event_type
        for item in e["items"]
    ]
    return pa.Table.from_pylist(rows, schema=INVENTORY_SCHEMA)


class LakeBuilder:
    """Feeds message batches into the lake, keeping what a streaming job would keep."""

    def __init__(self, settings: Settings, catalog, *, change_data_feed: bool = True) -> None:
        self.writer = DeltaRsWriter(settings)
        self.change_data_feed = change_data_feed
        self.catalog = catalog
        self.sent: list[OutboundMessage] = []
        self.late_ids: set[str] = set()
        self.batch_id = 0
        self.offsets: Counter = Counter()

    def _create(self, spec, table: pa.Table) -> None:
        """The table with its catalog properties, as the streaming writers create it."""
        if self.change_data_feed and not self.writer.exists(spec):
            DeltaTable.create(
                self.writer.uri(spec),
                schema=delta_schema(table.schema),
                partition_by=list(spec.partition_by) or None,
                configuration=spec.delta_properties,
            )

    def _append(self, spec, table: pa.Table) -> None:
        if "event_date" in spec.partition_by and "event_date" not in table.column_names:
            # silver is partitioned by the UTC date of the event, as the streams write it
            table = table.append_column("event_date", pc.cast(table["event_time"], pa.date32()))
        if table.num_rows:
            self._create(spec, table)
            self.writer.append(spec, table, BatchTxn("loader-tests", self.batch_id))

    def _merge(self, spec, table: pa.Table) -> None:
        if table.num_rows:
            self._create(spec, table)
            txn = BatchTxn("loader-tests", self.batch_id)
            self.writer.merge(spec, table, MergeSpec(spec.keys), txn)

    def feed(self, messages: list[OutboundMessage], products: pa.Table | None = None) -> None:
        self.batch_id += 1
        before = {e["event_id"] for _, e in unique_valid_events(self.sent)}
        self.sent += messages
        self.late_ids |= {m.event_id for m in messages if m.fault == "late"}
        valid = unique_valid_events(self.sent)
        new = [(m, e) for m, e in valid if e["event_id"] not in before]
        self._append(
            tables.SILVER_SALES_LINES,
            sales_lines_table(expected_sales_lines(new, self.late_ids)),
        )
        self._append(tables.SILVER_CLICKSTREAM, clicks_table(new, self.late_ids))
        self._append(tables.SILVER_INVENTORY_CHANGES, _inventory(new, "inventory_change"))
        self._append(tables.SILVER_INVENTORY_SNAPSHOTS, _inventory(new, "inventory_snapshot"))
        quarantined = []
        for m in messages:
            offset = self.offsets[m.topic]
            self.offsets[m.topic] += 1
            if m.fault in MALFORMED_KINDS:
                quarantined.append(
                    {
                        "topic": m.topic,
                        "partition": 0,
                        "offset": offset,
                        "raw_payload": m.value.decode("utf-8", errors="replace"),
                        "reason": m.fault,
                    }
                )
        self._append(
            tables.QUARANTINE,
            pa.Table.from_pylist(
                quarantined,
                schema=pa.schema(
                    [
                        ("topic", pa.string()),
                        ("partition", pa.int32()),
                        ("offset", pa.int64()),
                        ("raw_payload", pa.string()),
                        ("reason", pa.string()),
                    ]
                ),
            ),
        )
        # gold: every window recomputed from all silver rows so far, MERGEd like the job does
        lines = sales_lines_table(expected_sales_lines(valid, self.late_ids))
        self._merge(tables.SALES_BY_PRODUCT_MINUTE, gold_sales_by_product(lines))
        self._merge(tables.SALES_BY_STORE_MINUTE, gold_sales_by_store(lines))
        self._merge(
            tables.FUNNEL_BY_PRODUCT_MINUTE, gold_funnel(clicks_table(valid, self.late_ids))
        )
        changes = _inventory(valid, "inventory_change").drop_columns(["event_id"])
        counts = _inventory(valid, "inventory_snapshot").drop_columns(["event_id"])
        self._merge(
            tables.INVENTORY_LEVELS,
            gold_inventory_levels(changes, counts, products or products_table(self.catalog)),
        )
        families = Counter(_family(m) for m in messages)
        self._append(
            tables.STREAM_BATCHES,
            pa.Table.from_pylist(
                [
                    {
                        "query_name": "retail_pipeline",
                        "batch_id": self.batch_id,
                        "family": family,
                        "input_rows": count,
                        "processed_at": datetime(2026, 3, 2, 9, self.batch_id, tzinfo=UTC),
                    }
                    for family, count in sorted(families.items())
                ],
                schema=pa.schema(
                    [
                        ("query_name", pa.string()),
                        ("batch_id", pa.int64()),
                        ("family", pa.string()),
                        ("input_rows", pa.int64()),
                        ("processed_at", pa.timestamp("us", tz="UTC")),
                    ]
                ),
            ),
        )


def _family(message: OutboundMessage) -> str:
    return message.topic.rsplit(".", 2)[-2] if message.topic.count(".") >= 2 else message.topic
