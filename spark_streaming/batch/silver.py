"""Silver: a family's stored events flattened into one row shape per business entity.

Input: `records.valid_events` after de-duplication, with `is_late` and `produced_at`.
Every row keeps its lineage (produced_at, is_late, ingested_at, Kafka partition and
offset) and its UTC event_date, the tables' partition column.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from retail_lakehouse.contracts import MONEY_PRECISION, MONEY_SCALE

MONEY = pa.decimal128(MONEY_PRECISION, MONEY_SCALE)
LINEAGE = ("produced_at", "is_late", "ingested_at", "kafka_partition", "kafka_offset")


def sales_lines(events: pa.Table) -> pa.Table:
    """One row per basket line, with the line's revenue after discount."""
    events, line = _explode(
        events,
        "lines",
        ["event_id", "transaction_id", "event_time", "store_id", "channel", "customer_id",
         "payment_type"],
    )  # fmt: skip
    quantity = line.field("quantity")
    gross = pc.multiply(pc.cast(quantity, pa.decimal128(10, 0)), line.field("unit_price"))
    revenue = pc.cast(pc.subtract(gross, line.field("discount")), MONEY)
    return pa.table(
        {
            "event_id": events["event_id"],
            "transaction_id": events["transaction_id"],
            "event_time": events["event_time"],
            "store_id": pc.cast(events["store_id"], pa.int32()),
            "channel": events["channel"],
            "customer_id": pc.cast(events["customer_id"], pa.int64()),
            "payment_type": events["payment_type"],
            "line_number": pc.cast(line.field("line_number"), pa.int32()),
            "product_id": pc.cast(line.field("product_id"), pa.int64()),
            "quantity": pc.cast(quantity, pa.int32()),
            "unit_price": pc.cast(line.field("unit_price"), MONEY),
            "discount": pc.cast(line.field("discount"), MONEY),
            "line_revenue": revenue,
            **_lineage_and_date(events),
        }
    )


def clickstream_events(events: pa.Table) -> pa.Table:
    return pa.table(
        {
            "event_id": events["event_id"],
            "event_time": events["event_time"],
            "event_type": events["event_type"],
            "product_id": pc.cast(events["product_id"], pa.int64()),
            "category_id": pc.cast(events["category_id"], pa.int64()),
            "category_code": events["category_code"],
            "brand": events["brand"],
            "price": pc.cast(events["price"], MONEY),
            "user_id": pc.cast(events["user_id"], pa.int64()),
            "user_session": events["user_session"],
            **_lineage_and_date(events),
        }
    )


def inventory_changes(events: pa.Table) -> pa.Table:
    """One row per changed product; quantity is signed (negative takes stock away)."""
    events, item = _explode(
        _of_type(events, "inventory_change"),
        "items",
        ["event_id", "trans_id", "event_time", "store_id", "change_type"],
    )
    return pa.table(
        {
            "event_id": events["event_id"],
            "trans_id": events["trans_id"],
            "event_time": events["event_time"],
            "store_id": pc.cast(events["store_id"], pa.int32()),
            "change_type": events["change_type"],
            "product_id": pc.cast(item.field("product_id"), pa.int64()),
            "quantity": pc.cast(item.field("quantity"), pa.int32()),
            **_lineage_and_date(events),
        }
    )


def inventory_snapshots(events: pa.Table) -> pa.Table:
    """One row per counted product; quantity is the absolute stock on hand."""
    events, item = _explode(
        _of_type(events, "inventory_snapshot"), "items", ["event_id", "event_time", "store_id"]
    )
    return pa.table(
        {
            "event_id": events["event_id"],
            "event_time": events["event_time"],
            "store_id": pc.cast(events["store_id"], pa.int32()),
            "product_id": pc.cast(item.field("product_id"), pa.int64()),
            "quantity": pc.cast(item.field("quantity"), pa.int32()),
            **_lineage_and_date(events),
        }
    )


def _of_type(events: pa.Table, event_type: str) -> pa.Table:
    return events.filter(pc.equal(events["event_type"], event_type))


def _explode(events: pa.Table, field: str, columns: list[str]) -> tuple[pa.Table, pa.StructArray]:
    """The events' `columns` (and lineage) repeated once per item of their `field`
    array, and the items. Only what the rows need is repeated: the events' nested
    arrays are the bulk of a batch."""
    items = events[field].combine_chunks()
    parents = pc.list_parent_indices(items)
    flat = pc.list_flatten(items)
    assert isinstance(flat, pa.StructArray)
    return events.select([*columns, *LINEAGE]).take(parents), flat


def _lineage_and_date(events: pa.Table) -> dict[str, pa.ChunkedArray | pa.Array]:
    columns: dict[str, pa.ChunkedArray | pa.Array] = {name: events[name] for name in LINEAGE}
    columns["kafka_partition"] = pc.cast(events["kafka_partition"], pa.int32())
    columns["kafka_offset"] = pc.cast(events["kafka_offset"], pa.int64())
    columns["event_date"] = pc.cast(events["event_time"], pa.date32())
    return columns
