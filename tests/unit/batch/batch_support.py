"""Builders shared by the driver-side batch tests: the Arrow types of a batch's records
written out literally (what `validated_records(...).toArrow()` returns, checked against
Spark in test_transforms_validation), time literals, payloads, whole-table comparison
and a lake table's rows."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
from deltalake import DeltaTable

from retail_lakehouse.settings import Settings
from retail_lakehouse.tables import TableSpec

TS = pa.timestamp("us", tz="UTC")
MONEY = pa.decimal128(12, 2)

KAFKA_TIME = datetime(2026, 3, 2, 8, 0, 5, tzinfo=UTC)
INGESTED_AT = datetime(2026, 3, 2, 8, 0, 6, tzinfo=UTC)

_ENVELOPE = [
    ("event_id", pa.string()),
    ("event_type", pa.string()),
    ("event_time", TS),
    ("produced_at", TS),
]
SALE_EVENT = pa.struct(
    [
        *_ENVELOPE,
        ("transaction_id", pa.string()),
        ("store_id", pa.int32()),
        ("channel", pa.string()),
        ("customer_id", pa.int64()),
        ("payment_type", pa.string()),
        (
            "lines",
            pa.list_(
                pa.struct(
                    [
                        ("line_number", pa.int32()),
                        ("product_id", pa.int64()),
                        ("quantity", pa.int32()),
                        ("unit_price", MONEY),
                        ("discount", MONEY),
                    ]
                )
            ),
        ),
    ]
)
CLICK_EVENT = pa.struct(
    [
        *_ENVELOPE,
        ("product_id", pa.int64()),
        ("category_id", pa.int64()),
        ("category_code", pa.string()),
        ("brand", pa.string()),
        ("price", MONEY),
        ("user_id", pa.int64()),
        ("user_session", pa.string()),
    ]
)
INVENTORY_EVENT = pa.struct(
    [
        *_ENVELOPE,
        ("trans_id", pa.string()),
        ("store_id", pa.int32()),
        ("change_type", pa.string()),
        ("items", pa.list_(pa.struct([("product_id", pa.int64()), ("quantity", pa.int32())]))),
    ]
)


def records_schema(events: dict[str, pa.StructType]) -> pa.Schema:
    """The columns of validated_records' Arrow result, one event column per family."""
    return pa.schema(
        [
            ("key", pa.binary()),
            ("value", pa.binary()),
            ("topic", pa.string()),
            ("partition", pa.int32()),
            ("offset", pa.int64()),
            ("kafka_timestamp", TS),
            ("kafka_timestamp_type", pa.int32()),
            ("reason", pa.string()),
            ("reason_detail", pa.string()),
            ("raw_payload", pa.string()),
            *_ENVELOPE,
            *events.items(),
        ]
    )


# the columns records.stamped adds
STAMP_FIELDS = [("ingested_at", TS), ("ingest_date", pa.date32())]
# what records.valid_events adds to an event's own fields
LINEAGE_FIELDS = [
    ("kafka_partition", pa.int32()),
    ("kafka_offset", pa.int64()),
    ("kafka_timestamp", TS),
    ("ingested_at", TS),
]


def events_schema(event: pa.StructType, *, is_late: bool = False) -> pa.Schema:
    """valid_events' columns for a family (then is_late, as silver gets them)."""
    fields = [event.field(i) for i in range(event.num_fields)]
    late = [("is_late", pa.bool_())] if is_late else []
    return pa.schema([*fields, *LINEAGE_FIELDS, *late])


def utc(text: str) -> datetime:
    """'2026-03-02 08:00:01.123' -> an aware UTC datetime."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def rows_table(rows: Sequence[dict[str, Any] | Sequence[Any]], schema: pa.Schema) -> pa.Table:
    """A table from dicts, or from tuples in the schema's column order."""
    dicts = [
        row if isinstance(row, dict) else dict(zip(schema.names, row, strict=True)) for row in rows
    ]
    return pa.Table.from_pylist(dicts, schema=schema)


def assert_tables_equal(actual: pa.Table, expected: pa.Table, keys: Sequence[str] = ()) -> None:
    """Same schema (names, types, order) and the same rows; row order ignored when
    `keys` are given (both sides sorted by them)."""
    assert actual.schema.equals(expected.schema), f"{actual.schema}\n!=\n{expected.schema}"
    if keys:
        order = [(k, "ascending") for k in keys]
        actual, expected = actual.sort_by(order), expected.sort_by(order)
    assert actual.to_pylist() == expected.to_pylist()


def payload(event_id: str, event_type: str, at: datetime, **fields: object) -> bytes:
    """An event as the producer sends it, produced at its event time."""
    stamp = at.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return json.dumps(
        {
            "event_id": event_id,
            "event_type": event_type,
            "event_time": stamp,
            "produced_at": stamp,
            **fields,
        }
    ).encode()


def lake_rows(settings: Settings, spec: TableSpec) -> list[dict]:
    """A lake table's rows, read with delta-rs directly (not the pipeline's writer)."""
    path = f"{settings.resolved_lake_root}/{spec.layer}/{spec.name}"
    return DeltaTable(path).to_pyarrow_table().to_pylist()
