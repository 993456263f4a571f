from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pyarrow as pa
from batch_support import (
    CLICK_EVENT,
    INGESTED_AT,
    KAFKA_TIME,
    SALE_EVENT,
    STAMP_FIELDS,
    TS,
    assert_tables_equal,
    events_schema,
    records_schema,
    rows_table,
    utc,
)

from retail_lakehouse.contracts import CLICKSTREAM, SALES
from spark_streaming.batch.records import (
    bronze_rows,
    by_topic,
    is_late,
    offsets_after,
    quarantine_rows,
    stamped,
    valid_events,
)

SALES_TOPIC, CLICKS_TOPIC = "retail.sales", "retail.clicks"
FAMILIES = {SALES_TOPIC: SALES, CLICKS_TOPIC: CLICKSTREAM}
RECORDS = records_schema({"sales": SALE_EVENT, "clickstream": CLICK_EVENT})
STAMPED = pa.schema([*RECORDS, *STAMP_FIELDS])

SOLD_AT, SENT_AT = utc("2026-03-02 08:00:01.123"), utc("2026-03-02 08:00:01.200")
LINE_1 = {
    "line_number": 1,
    "product_id": 1001,
    "quantity": 2,
    "unit_price": Decimal("19.99"),
    "discount": Decimal("0.00"),
}


def sale(event_id: str = "s-1", event_time: datetime = SOLD_AT) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "event_type": "sale",
        "event_time": event_time,
        "produced_at": SENT_AT,
        "transaction_id": "t-1",
        "store_id": 12,
        "channel": "store",
        "customer_id": 501,
        "payment_type": "card",
        "lines": [LINE_1],
    }


VIEW = {
    "event_id": "c-1",
    "event_type": "view",
    "event_time": utc("2026-03-02 08:00:02"),
    "produced_at": utc("2026-03-02 08:00:02.010"),
    "product_id": 1001,
    "category_id": 2053013555631882655,
    "category_code": "electronics.smartphone",
    "brand": "acme",
    "price": Decimal("199.00"),
    "user_id": 520088904,
    "user_session": "sess-1",
}


def record(
    offset: int,
    value: bytes | None,
    *,
    topic: str = SALES_TOPIC,
    partition: int = 0,
    reason: str | None = None,
    detail: str | None = None,
    envelope: dict[str, Any] | None = None,
    event: dict[str, Any] | None = None,
    kafka_timestamp: datetime | None = KAFKA_TIME,
) -> dict[str, Any]:
    """One row of validated_records' result. A valid record carries its typed event
    (in the column of its topic's family) and the envelope read from it; a rejected
    one its raw payload and whatever `envelope` could be read."""
    family = "sales" if topic == SALES_TOPIC else "clickstream"
    seen = envelope if envelope is not None else (event or {})
    return {
        "key": b"k",
        "value": value,
        "topic": topic,
        "partition": partition,
        "offset": offset,
        "kafka_timestamp": kafka_timestamp,
        "kafka_timestamp_type": 0,
        "reason": reason,
        "reason_detail": detail,
        "raw_payload": value.decode(errors="replace") if reason and value is not None else None,
        **{
            name: seen.get(name) for name in ("event_id", "event_type", "event_time", "produced_at")
        },
        "sales": event if reason is None and family == "sales" else None,
        "clickstream": event if reason is None and family == "clickstream" else None,
    }


def payload(event_id: str) -> bytes:
    return f'{{"event_id": "{event_id}"}}'.encode()


def test_stamped_adds_the_read_time_and_its_utc_date():
    rows = [
        record(0, payload("s-1"), event=sale()),
        record(1, None, reason="malformed_json", detail="value is null"),
    ]
    # 01:30 at UTC+2 on the 3rd is still the 2nd in UTC: the partition date follows UTC
    read_at = datetime(2026, 3, 3, 1, 30, tzinfo=timezone(timedelta(hours=2)))

    actual = stamped(rows_table(rows, RECORDS), read_at)

    in_utc = {"ingested_at": utc("2026-03-02 23:30:00"), "ingest_date": date(2026, 3, 2)}
    expected = rows_table([{**row, **in_utc} for row in rows], STAMPED)
    assert_tables_equal(actual, expected)


def test_stamped_reads_a_naive_read_time_as_utc():
    rows = [record(0, payload("s-1"), event=sale())]

    actual = stamped(rows_table(rows, RECORDS), datetime(2026, 3, 2, 23, 59, 59))

    in_utc = {"ingested_at": utc("2026-03-02 23:59:59"), "ingest_date": date(2026, 3, 2)}
    assert_tables_equal(actual, rows_table([{**rows[0], **in_utc}], STAMPED))


def test_an_event_more_than_a_minute_ahead_of_the_read_time_is_future_event_time():
    # read at 08:00:06; the Kafka timestamps (stamped by a fast clock) let Spark pass them
    fast = {"kafka_timestamp": utc("2099-01-01 00:00:00")}
    on_time = sale("s-1")
    at_the_limit = sale("s-2", utc("2026-03-02 08:01:06"))
    past_the_limit = sale("s-3", utc("2026-03-02 08:01:06.001"))
    year_2099 = sale("s-4", utc("2099-01-01 00:00:00"))
    rows = [
        record(0, payload("s-1"), event=on_time),
        record(1, payload("s-2"), event=at_the_limit, **fast),
        record(2, payload("s-3"), event=past_the_limit, **fast),
        # an earlier, more specific reason is kept
        record(3, payload("s-4"), reason="out_of_range", detail="event_time", envelope=year_2099),
        record(4, b"{", reason="malformed_json", detail="payload is not valid JSON"),
    ]

    actual = stamped(rows_table(rows, RECORDS), INGESTED_AT)

    stamp = {"ingested_at": INGESTED_AT, "ingest_date": date(2026, 3, 2)}
    future = {
        "reason": "future_event_time",
        "reason_detail": "event_time",
        "raw_payload": '{"event_id": "s-3"}',
    }
    expected = rows_table(
        [
            {**rows[0], **stamp},
            {**rows[1], **stamp},
            {**rows[2], **future, **stamp},
            {**rows[3], **stamp},
            {**rows[4], **stamp},
        ],
        STAMPED,
    )
    # the family's event column is not read for rejected records (see valid_events)
    assert_tables_equal(actual.drop_columns(["sales"]), expected.drop_columns(["sales"]))
    kept = valid_events(actual, SALES)["event_id"].to_pylist()
    assert kept == ["s-1", "s-2"]


def test_by_topic_gives_each_topic_its_records_in_batch_order():
    rows = [
        record(0, payload("s-1"), event=sale()),
        record(0, payload("c-1"), topic=CLICKS_TOPIC, event=VIEW),
        record(1, b"{", reason="malformed_json", detail="payload is not valid JSON"),
        record(2, payload("s-2"), event=sale("s-2")),
        record(1, payload("c-2"), topic=CLICKS_TOPIC, event=VIEW),
        record(0, payload("x-1"), topic="retail.unplanned"),
    ]

    actual = by_topic(rows_table(rows, RECORDS), [SALES_TOPIC, CLICKS_TOPIC, "retail.stock"])

    assert list(actual) == [SALES_TOPIC, CLICKS_TOPIC, "retail.stock"]
    assert_tables_equal(actual[SALES_TOPIC], rows_table([rows[0], rows[2], rows[3]], RECORDS))
    assert_tables_equal(actual[CLICKS_TOPIC], rows_table([rows[1], rows[4]], RECORDS))
    assert_tables_equal(actual["retail.stock"], rows_table([], RECORDS))


def test_by_topic_of_an_empty_batch_gives_empty_tables():
    actual = by_topic(rows_table([], RECORDS), [SALES_TOPIC])

    assert_tables_equal(actual[SALES_TOPIC], rows_table([], RECORDS))


BRONZE = pa.schema(
    [
        ("key", pa.binary()),
        ("value", pa.binary()),
        ("topic", pa.string()),
        ("partition", pa.int32()),
        ("offset", pa.int64()),
        ("kafka_timestamp", TS),
        ("kafka_timestamp_type", pa.int32()),
        ("ingested_at", TS),
        ("ingest_date", pa.date32()),
    ]
)


def test_bronze_keeps_every_record_with_its_kafka_metadata_and_read_time():
    rows = [
        record(41, b'{"event_id": "s-1"}', partition=1, event=sale()),
        {
            **record(7, None, reason="malformed_json", detail="value is null"),
            "key": None,
            "kafka_timestamp_type": 1,
        },
        record(42, b"\xff not json", partition=1, reason="malformed_json", detail="not UTF-8"),
    ]

    actual = bronze_rows(stamped(rows_table(rows, RECORDS), INGESTED_AT))

    day = date(2026, 3, 2)
    expected = rows_table(
        [
            (b"k", b'{"event_id": "s-1"}', SALES_TOPIC, 1, 41, KAFKA_TIME, 0, INGESTED_AT, day),
            (None, None, SALES_TOPIC, 0, 7, KAFKA_TIME, 1, INGESTED_AT, day),
            (b"k", b"\xff not json", SALES_TOPIC, 1, 42, KAFKA_TIME, 0, INGESTED_AT, day),
        ],
        BRONZE,
    )
    assert_tables_equal(actual, expected)


QUARANTINE = pa.schema(
    [
        ("family", pa.string()),
        ("topic", pa.string()),
        ("partition", pa.int32()),
        ("offset", pa.int64()),
        ("kafka_timestamp", TS),
        ("key", pa.binary()),
        ("raw_payload", pa.string()),
        ("reason", pa.string()),
        ("reason_detail", pa.string()),
        ("event_id", pa.string()),
        ("event_type", pa.string()),
        ("ingested_at", TS),
        ("ingest_date", pa.date32()),
    ]
)


def test_quarantine_rows_are_the_rejected_records_of_every_topic_with_their_family():
    refund = {"event_id": "s-2", "event_type": "refund"}
    rows = [
        record(0, payload("s-1"), event=sale()),
        record(1, b'{"event_id": "s-2"}', reason="unknown_event_type", detail="refund",
               envelope=refund),
        record(0, payload("c-1"), topic=CLICKS_TOPIC, event=VIEW),
        record(1, b"caf\xe9", topic=CLICKS_TOPIC, partition=2, reason="malformed_json",
               detail="payload is not valid UTF-8"),
        record(2, None, reason="malformed_json", detail="value is null"),
    ]  # fmt: skip

    actual = quarantine_rows(stamped(rows_table(rows, RECORDS), INGESTED_AT), FAMILIES)

    day = date(2026, 3, 2)
    expected = rows_table(
        [
            ("sales", SALES_TOPIC, 0, 1, KAFKA_TIME, b"k", '{"event_id": "s-2"}',
             "unknown_event_type", "refund", "s-2", "refund", INGESTED_AT, day),
            ("clickstream", CLICKS_TOPIC, 2, 1, KAFKA_TIME, b"k", "caf\ufffd", "malformed_json",
             "payload is not valid UTF-8", None, None, INGESTED_AT, day),
            ("sales", SALES_TOPIC, 0, 2, KAFKA_TIME, b"k", None, "malformed_json",
             "value is null", None, None, INGESTED_AT, day),
        ],
        QUARANTINE,
    )  # fmt: skip
    assert_tables_equal(actual, expected, keys=["topic", "partition", "offset"])


def test_valid_events_flatten_the_event_and_keep_its_kafka_lineage():
    rows = [
        record(0, b"{", topic=CLICKS_TOPIC, reason="malformed_json", detail="not JSON"),
        record(1, payload("c-1"), topic=CLICKS_TOPIC, partition=3, event=VIEW),
        record(2, payload("c-1"), topic=CLICKS_TOPIC, reason="out_of_range", detail="price",
               envelope=VIEW),
    ]  # fmt: skip

    actual = valid_events(stamped(rows_table(rows, RECORDS), INGESTED_AT), CLICKSTREAM)

    expected = rows_table(
        [
            ("c-1", "view", utc("2026-03-02 08:00:02"), utc("2026-03-02 08:00:02.010"), 1001,
             2053013555631882655, "electronics.smartphone", "acme", Decimal("199.00"),
             520088904, "sess-1", 3, 1, KAFKA_TIME, INGESTED_AT),
        ],
        events_schema(CLICK_EVENT),
    )  # fmt: skip
    assert_tables_equal(actual, expected)


def test_valid_events_of_a_batch_without_any_are_empty_with_the_family_columns():
    rows = [record(0, b"{", reason="malformed_json", detail="payload is not valid JSON")]

    actual = valid_events(stamped(rows_table(rows, RECORDS), INGESTED_AT), SALES)

    assert_tables_equal(actual, rows_table([], events_schema(SALE_EVENT)))


def test_events_before_the_watermark_are_late():
    events = pa.table(
        {
            "event_time": pa.array(
                [
                    utc("2026-03-02 07:59:59.999"),
                    utc("2026-03-02 08:00:00"),
                    utc("2026-03-02 08:00:00.001"),
                ],
                TS,
            )
        }
    )

    actual = is_late(events, utc("2026-03-02 08:00:00"))

    assert actual.to_pylist() == [True, False, False]


def test_nothing_is_late_before_the_first_watermark():
    events = pa.table({"event_time": pa.array([utc("2001-01-01 00:00:00")], TS)})

    assert is_late(events, None).to_pylist() == [False]


def test_offsets_after_are_the_next_offset_of_every_partition_read():
    rows = [
        record(5, payload("s-1"), event=sale()),
        record(9, b"{", reason="malformed_json", detail="not JSON"),
        record(7, payload("s-2"), partition=1, event=sale("s-2")),
        record(0, payload("c-1"), topic=CLICKS_TOPIC, event=VIEW),
    ]

    actual = offsets_after(rows_table(rows, RECORDS))

    assert actual == {SALES_TOPIC: {"0": 10, "1": 8}, CLICKS_TOPIC: {"0": 1}}
    assert offsets_after(rows_table([], RECORDS)) == {}
