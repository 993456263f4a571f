from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pyarrow as pa
from batch_support import (
    CLICK_EVENT,
    INGESTED_AT,
    INVENTORY_EVENT,
    KAFKA_TIME,
    MONEY,
    SALE_EVENT,
    TS,
    assert_tables_equal,
    events_schema,
    rows_table,
    utc,
)

from spark_streaming.batch.silver import (
    clickstream_events,
    inventory_changes,
    inventory_snapshots,
    sales_lines,
)

DAY = date(2026, 3, 2)
# the lineage and partition columns every silver table ends with, as the Spark
# transforms wrote them
LINEAGE = [
    ("produced_at", TS),
    ("is_late", pa.bool_()),
    ("ingested_at", TS),
    ("kafka_partition", pa.int32()),
    ("kafka_offset", pa.int64()),
    ("event_date", pa.date32()),
]


def events(rows: list[dict[str, Any]], event: pa.StructType) -> pa.Table:
    """valid_events rows with is_late, as silver gets them; lineage defaults filled in."""
    lineage = {
        "kafka_partition": 0,
        "kafka_timestamp": KAFKA_TIME,
        "ingested_at": INGESTED_AT,
        "is_late": False,
    }
    return rows_table([{**lineage, **row} for row in rows], events_schema(event, is_late=True))


SOLD_AT, SALE_SENT = utc("2026-03-02 08:00:01.123"), utc("2026-03-02 08:00:01.200")


def line(number, product_id, quantity, unit_price, discount):
    return {
        "line_number": number,
        "product_id": product_id,
        "quantity": quantity,
        "unit_price": Decimal(unit_price),
        "discount": Decimal(discount),
    }


def sale(**changes: Any) -> dict[str, Any]:
    return {
        "event_id": "s-1",
        "event_type": "sale",
        "event_time": SOLD_AT,
        "produced_at": SALE_SENT,
        "transaction_id": "t-1",
        "store_id": 12,
        "channel": "store",
        "customer_id": 501,
        "payment_type": "card",
        "lines": [line(1, 1001, 2, "19.99", "0.00"), line(2, 1002, 1, "5.50", "0.50")],
        "kafka_offset": 0,
        **changes,
    }


SALES_LINES = pa.schema(
    [
        ("event_id", pa.string()),
        ("transaction_id", pa.string()),
        ("event_time", TS),
        ("store_id", pa.int32()),
        ("channel", pa.string()),
        ("customer_id", pa.int64()),
        ("payment_type", pa.string()),
        ("line_number", pa.int32()),
        ("product_id", pa.int64()),
        ("quantity", pa.int32()),
        ("unit_price", MONEY),
        ("discount", MONEY),
        ("line_revenue", MONEY),
        *LINEAGE,
    ]
)


def test_sales_lines_have_one_row_per_line_with_revenue_after_discount():
    online = sale(
        event_id="s-2",
        transaction_id="t-2",
        channel="online",
        customer_id=None,
        lines=[line(1, 7, 3, "0.10", "0.30")],
        kafka_offset=1,
        is_late=True,
    )
    big = sale(
        event_id="s-3",
        transaction_id="t-3",
        lines=[line(1, 8, 100, "100000.00", "0.01")],
        kafka_partition=2,
        kafka_offset=5,
    )

    # in two chunks, as a batch read in several Arrow record batches is
    batch = pa.concat_tables([events([sale()], SALE_EVENT), events([online, big], SALE_EVENT)])

    actual = sales_lines(batch)

    head = ("s-1", "t-1", SOLD_AT, 12, "store", 501, "card")
    tail = (SALE_SENT, False, INGESTED_AT, 0, 0, DAY)
    expected = rows_table(
        [
            (*head, 1, 1001, 2, Decimal("19.99"), Decimal("0.00"), Decimal("39.98"), *tail),
            (*head, 2, 1002, 1, Decimal("5.50"), Decimal("0.50"), Decimal("5.00"), *tail),
            ("s-2", "t-2", SOLD_AT, 12, "online", None, "card", 1, 7, 3, Decimal("0.10"),
             Decimal("0.30"), Decimal("0.00"), SALE_SENT, True, INGESTED_AT, 0, 1, DAY),
            # the largest basket line the contract allows: 100 x 100,000.00
            ("s-3", "t-3", SOLD_AT, 12, "store", 501, "card", 1, 8, 100, Decimal("100000.00"),
             Decimal("0.01"), Decimal("9999999.99"), SALE_SENT, False, INGESTED_AT, 2, 5, DAY),
        ],
        SALES_LINES,
    )  # fmt: skip
    assert_tables_equal(actual, expected, keys=["event_id", "line_number"])


def test_sales_lines_of_no_events_are_empty_with_the_silver_columns():
    actual = sales_lines(events([], SALE_EVENT))

    assert_tables_equal(actual, rows_table([], SALES_LINES))


def test_event_date_is_the_utc_date_of_the_event_time():
    just_before_midnight = utc("2026-03-01 23:59:59.999")

    actual = sales_lines(events([sale(event_time=just_before_midnight)], SALE_EVENT))

    assert actual.select(["event_time", "event_date"]).to_pylist() == [
        {"event_time": just_before_midnight, "event_date": date(2026, 3, 1)},
        {"event_time": just_before_midnight, "event_date": date(2026, 3, 1)},
    ]


CLICKSTREAM_EVENTS = pa.schema(
    [
        ("event_id", pa.string()),
        ("event_time", TS),
        ("event_type", pa.string()),
        ("product_id", pa.int64()),
        ("category_id", pa.int64()),
        ("category_code", pa.string()),
        ("brand", pa.string()),
        ("price", MONEY),
        ("user_id", pa.int64()),
        ("user_session", pa.string()),
        *LINEAGE,
    ]
)


def test_clickstream_events_keep_every_interaction():
    viewed_at, sent = utc("2026-03-02 08:00:02"), utc("2026-03-02 08:00:02.010")
    view = {
        "event_id": "c-1",
        "event_type": "view",
        "event_time": viewed_at,
        "produced_at": sent,
        "product_id": 1001,
        "category_id": 2053013555631882655,
        "category_code": "electronics.smartphone",
        "brand": "acme",
        "price": Decimal("199.00"),
        "user_id": 520088904,
        "user_session": "sess-1",
        "kafka_offset": 0,
    }
    purchase = {**view, "event_id": "c-2", "event_type": "purchase", "brand": None}
    purchase |= {"kafka_offset": 1}

    actual = clickstream_events(events([view, purchase], CLICK_EVENT))

    common = (1001, 2053013555631882655, "electronics.smartphone")
    tail = (Decimal("199.00"), 520088904, "sess-1", sent, False, INGESTED_AT, 0)
    expected = rows_table(
        [
            ("c-1", viewed_at, "view", *common, "acme", *tail, 0, DAY),
            ("c-2", viewed_at, "purchase", *common, None, *tail, 1, DAY),
        ],
        CLICKSTREAM_EVENTS,
    )
    assert_tables_equal(actual, expected, keys=["event_id"])


INVENTORY_CHANGES = pa.schema(
    [
        ("event_id", pa.string()),
        ("trans_id", pa.string()),
        ("event_time", TS),
        ("store_id", pa.int32()),
        ("change_type", pa.string()),
        ("product_id", pa.int64()),
        ("quantity", pa.int32()),
        *LINEAGE,
    ]
)
INVENTORY_SNAPSHOTS = pa.schema(
    [
        ("event_id", pa.string()),
        ("event_time", TS),
        ("store_id", pa.int32()),
        ("product_id", pa.int64()),
        ("quantity", pa.int32()),
        *LINEAGE,
    ]
)
CHANGED_AT, CHANGE_SENT = utc("2026-03-02 08:00:03"), utc("2026-03-02 08:00:03.001")
COUNTED_AT, COUNT_SENT = utc("2026-03-02 08:00:00"), utc("2026-03-02 08:00:00.500")
CHANGE = {
    "event_id": "i-1",
    "event_type": "inventory_change",
    "event_time": CHANGED_AT,
    "produced_at": CHANGE_SENT,
    "trans_id": "t-1",
    "store_id": 12,
    "change_type": "sale",
    "items": [{"product_id": 1001, "quantity": -2}, {"product_id": 1002, "quantity": -1}],
    "kafka_offset": 0,
}
SNAPSHOT = {
    "event_id": "i-2",
    "event_type": "inventory_snapshot",
    "event_time": COUNTED_AT,
    "produced_at": COUNT_SENT,
    "trans_id": None,
    "store_id": 12,
    "change_type": None,
    "items": [{"product_id": 1001, "quantity": 40}, {"product_id": 1002, "quantity": 0}],
    "kafka_offset": 1,
}


def test_inventory_changes_and_snapshots_each_take_their_own_event_type():
    batch = events([CHANGE, SNAPSHOT], INVENTORY_EVENT)

    changes = inventory_changes(batch)
    snapshots = inventory_snapshots(batch)

    change_tail = (CHANGE_SENT, False, INGESTED_AT, 0, 0, DAY)
    expected_changes = rows_table(
        [
            ("i-1", "t-1", CHANGED_AT, 12, "sale", 1001, -2, *change_tail),
            ("i-1", "t-1", CHANGED_AT, 12, "sale", 1002, -1, *change_tail),
        ],
        INVENTORY_CHANGES,
    )
    count_tail = (COUNT_SENT, False, INGESTED_AT, 0, 1, DAY)
    expected_snapshots = rows_table(
        [
            ("i-2", COUNTED_AT, 12, 1001, 40, *count_tail),
            ("i-2", COUNTED_AT, 12, 1002, 0, *count_tail),
        ],
        INVENTORY_SNAPSHOTS,
    )
    assert_tables_equal(changes, expected_changes, keys=["event_id", "product_id"])
    assert_tables_equal(snapshots, expected_snapshots, keys=["event_id", "product_id"])


def test_a_batch_of_counts_only_has_no_changes():
    batch = events([SNAPSHOT], INVENTORY_EVENT)

    assert_tables_equal(inventory_changes(batch), rows_table([], INVENTORY_CHANGES))
    assert inventory_snapshots(batch).num_rows == 2
