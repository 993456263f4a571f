from __future__ import annotations

import json
from datetime import date
from decimal import Decimal

import pyarrow as pa
from chispa import assert_df_equality
from pyspark.sql import Row
from pyspark.sql import functions as F
from pyspark.sql import types as T
from transforms_support import (
    CHANGE,
    INGESTED_AT,
    KAFKA_TIME,
    LINE,
    SALE,
    SNAPSHOT,
    VIEW,
    changed,
    kafka_rows,
    utc,
    validated,
)

from retail_lakehouse.contracts import CLICKSTREAM, INVENTORY, SALES
from spark_streaming.batch.records import quarantine_rows, stamped
from spark_streaming.schemas import KAFKA_SCHEMA, read_schema
from spark_streaming.transforms.validation import validated_records

OUTCOME_SCHEMA = "offset long, reason string, reason_detail string"


def outcomes(spark, family, cases):
    """(payload, reason, detail) cases -> (actual, expected) frames of offset, reason, detail."""
    actual = validated(spark, family, [payload for payload, _, _ in cases])
    expected = spark.createDataFrame(
        [(offset, reason, detail) for offset, (_, reason, detail) in enumerate(cases)],
        OUTCOME_SCHEMA,
    )
    return actual.select("offset", "reason", "reason_detail"), expected


def line(**changes):
    return {**LINE, **changes}


def without(field):
    return {k: v for k, v in LINE.items() if k != field}


SALES_CASES = [
    # valid, including an optional field given as null
    (SALE.encode(), None, None),
    (changed(SALE, customer_id=None), None, None),
    (changed(SALE, customer_id=...), None, None),
    (changed(SALE, unit_price_note="extra fields are ignored"), None, None),
    (changed(SALE, lines=[line(unit_price=1e3, discount=12)]), None, None),
    # not one JSON object
    (b'{"event_id": "s-1", "event_type": ', "malformed_json", "payload is not valid JSON"),
    (b"\xff\xfe{}", "malformed_json", "payload is not valid UTF-8"),
    (b'{"brand": "caf\xe9"}', "malformed_json", "payload is not valid UTF-8"),
    (None, "malformed_json", "value is null"),
    (b"", "malformed_json", "payload is empty"),
    (b"  ", "malformed_json", "payload is empty"),
    (b"[" + SALE.encode() + b"]", "malformed_json", "payload is not a JSON object"),
    (b'"sale"', "malformed_json", "payload is not a JSON object"),
    (b"null", "malformed_json", "payload is not a JSON object"),
    (b"1e999", "malformed_json", "payload is not a JSON object"),
    # the event type decides the contract
    (changed(SALE, event_type=...), "missing_field", "event_type"),
    (changed(SALE, event_type=None), "missing_field", "event_type"),
    (changed(SALE, event_type="refund"), "unknown_event_type", "refund"),
    (changed(SALE, event_type="view"), "unknown_event_type", "view"),
    (changed(SALE, event_type=7), "unknown_event_type", "7"),
    # wrong types at the top level
    (changed(SALE, store_id="12"), "wrong_type", "store_id"),
    (changed(SALE, store_id=12.0), "wrong_type", "store_id"),
    (changed(SALE, store_id=99999999999), "wrong_type", "store_id"),
    (changed(SALE, store_id=10**40), "wrong_type", "store_id"),
    (SALE.replace('"store_id": 12', '"store_id": 1e400').encode(), "wrong_type", "store_id"),
    (changed(SALE, customer_id=True), "wrong_type", "customer_id"),
    (changed(SALE, event_time=1772438401), "wrong_type", "event_time"),
    (changed(SALE, event_time="2026-03-02 08:00:01"), "wrong_type", "event_time"),
    (changed(SALE, produced_at={"at": 1}), "wrong_type", "produced_at"),
    (changed(SALE, lines="none"), "wrong_type", "lines"),
    (changed(SALE, lines={"line_number": 1}), "wrong_type", "lines"),
    (changed(SALE, lines=json.dumps([LINE])), "wrong_type", "lines"),
    # wrong types inside the lines
    (changed(SALE, lines=[1, 2]), "wrong_type", "lines[]"),
    (changed(SALE, lines=[LINE, None]), "wrong_type", "lines[]"),
    (changed(SALE, lines=[LINE, line(quantity="2")]), "wrong_type", "lines[].quantity"),
    (changed(SALE, lines=[line(product_id=1.5)]), "wrong_type", "lines[].product_id"),
    (changed(SALE, lines=[line(unit_price=1.234)]), "wrong_type", "lines[].unit_price"),
    (changed(SALE, lines=[line(unit_price=1e30)]), "wrong_type", "lines[].unit_price"),
    (SALE.replace("19.99", "-1e400").encode(), "wrong_type", "lines[].unit_price"),
    (SALE.replace("19.99", "NaN").encode(), "wrong_type", "lines[].unit_price"),
    (changed(SALE, lines=[line(discount=True)]), "wrong_type", "lines[].discount"),
    (changed(SALE, lines=[line(discount=[0])]), "wrong_type", "lines[].discount"),
    # the first failing check wins: a wrong type before a missing field
    (changed(SALE, transaction_id=..., store_id="x"), "wrong_type", "store_id"),
    (changed(SALE, store_id=..., lines=[line(quantity="x")]), "wrong_type", "lines[].quantity"),
    # missing required fields
    (changed(SALE, transaction_id=...), "missing_field", "transaction_id"),
    (changed(SALE, channel=None), "missing_field", "channel"),
    (changed(SALE, produced_at=...), "missing_field", "produced_at"),
    (changed(SALE, lines=...), "missing_field", "lines"),
    (changed(SALE, lines=[]), "missing_field", "lines"),
    (changed(SALE, lines=[without("quantity")]), "missing_field", "lines[].quantity"),
    (changed(SALE, lines=[LINE, line(discount=None)]), "missing_field", "lines[].discount"),
    (changed(SALE, store_id=0, event_id=...), "missing_field", "event_id"),
    # numbers out of the contract's range, and implausible event times
    (changed(SALE, store_id=0), "out_of_range", "store_id"),
    (changed(SALE, store_id=10000), "out_of_range", "store_id"),
    (changed(SALE, customer_id=0), "out_of_range", "customer_id"),
    (changed(SALE, lines=[LINE, line(quantity=101)]), "out_of_range", "lines[].quantity"),
    (changed(SALE, lines=[line(quantity=0)]), "out_of_range", "lines[].quantity"),
    (changed(SALE, lines=[line(unit_price=0)]), "out_of_range", "lines[].unit_price"),
    (changed(SALE, lines=[line(unit_price=100000.01)]), "out_of_range", "lines[].unit_price"),
    (changed(SALE, lines=[line(discount=-0.01)]), "out_of_range", "lines[].discount"),
    (changed(SALE, event_time="1999-12-31T23:59:59.999Z"), "out_of_range", "event_time"),
    (changed(SALE, event_time="2026-03-03T08:00:01.201Z"), "out_of_range", "event_time"),
    (changed(SALE, channel="drone", store_id=0), "out_of_range", "store_id"),
    # values outside the allowed set, and cross-field rules
    (changed(SALE, channel="drone"), "invalid_value", "channel"),
    (changed(SALE, payment_type="bitcoin"), "invalid_value", "payment_type"),
    (
        changed(SALE, lines=[LINE, line(quantity=2, unit_price=5, discount=10.01)]),
        "invalid_value",
        "lines[].discount",
    ),
]


def test_sales_payloads_get_the_reason_of_their_first_failing_check(spark):
    actual, expected = outcomes(spark, SALES, SALES_CASES)
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


CLICKSTREAM_CASES = [
    (VIEW.encode(), None, None),
    (changed(VIEW, event_type="cart"), None, None),
    (changed(VIEW, event_type="remove_from_cart"), None, None),
    (changed(VIEW, event_type="purchase", category_code=None, brand=...), None, None),
    (changed(VIEW, price=0), None, None),
    (changed(VIEW, event_type="like"), "unknown_event_type", "like"),
    (SALE.encode(), "unknown_event_type", "sale"),
    (changed(VIEW, user_id="520088904"), "wrong_type", "user_id"),
    (changed(VIEW, price="cheap"), "wrong_type", "price"),
    (changed(VIEW, user_session=...), "missing_field", "user_session"),
    (changed(VIEW, category_id=0), "out_of_range", "category_id"),
    (changed(VIEW, price=-1), "out_of_range", "price"),
]


def test_clickstream_payloads_get_their_reasons(spark):
    actual, expected = outcomes(spark, CLICKSTREAM, CLICKSTREAM_CASES)
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


def item(product_id=1001, quantity=-2):
    return {"product_id": product_id, "quantity": quantity}


INVENTORY_CASES = [
    (CHANGE.encode(), None, None),
    (SNAPSHOT.encode(), None, None),
    (changed(CHANGE, change_type="restock", items=[item(quantity=5)]), None, None),
    (changed(CHANGE, change_type="shrink", items=[item(quantity=-1)]), None, None),
    (changed(CHANGE, change_type="bopis", items=[item(quantity=-10000)]), None, None),
    # each event type is held to its own contract
    (changed(SNAPSHOT, trans_id=None, change_type=None), None, None),
    (changed(CHANGE, trans_id=...), "missing_field", "trans_id"),
    (changed(SNAPSHOT, items=[item(quantity=-1)]), "out_of_range", "items[].quantity"),
    (changed(CHANGE, items=[item(quantity=-10001)]), "out_of_range", "items[].quantity"),
    (changed(SNAPSHOT, items=[item(quantity=1000001)]), "out_of_range", "items[].quantity"),
    (changed(SNAPSHOT, store_id=None), "missing_field", "store_id"),
    (changed(SNAPSHOT, event_type="inventory_count"), "unknown_event_type", "inventory_count"),
    (changed(CHANGE, items=[item(product_id="sku-1")]), "wrong_type", "items[].product_id"),
    (changed(SNAPSHOT, items=[item(quantity=1.5)]), "wrong_type", "items[].quantity"),
    (changed(CHANGE, items=[{"product_id": 1001}]), "missing_field", "items[].quantity"),
    # the sign of a change follows its type
    (changed(CHANGE, change_type="theft"), "invalid_value", "change_type"),
    (
        changed(CHANGE, items=[item(quantity=-1), item(quantity=0)]),
        "invalid_value",
        "items[].quantity",
    ),
    (
        changed(CHANGE, change_type="restock", items=[item(quantity=-3)]),
        "invalid_value",
        "items[].quantity",
    ),
    (
        changed(CHANGE, change_type="shrink", items=[item(quantity=1)]),
        "invalid_value",
        "items[].quantity",
    ),
]


def test_inventory_payloads_are_checked_against_their_own_event_type(spark):
    actual, expected = outcomes(spark, INVENTORY, INVENTORY_CASES)
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


def test_event_is_typed_with_the_family_read_schema(spark):
    actual = validated(spark, SALES, [SALE.encode(), b"{oops"]).select("offset", "sales")

    line_type = T.StructType(
        [
            T.StructField("line_number", T.IntegerType()),
            T.StructField("product_id", T.LongType()),
            T.StructField("quantity", T.IntegerType()),
            T.StructField("unit_price", T.DecimalType(12, 2)),
            T.StructField("discount", T.DecimalType(12, 2)),
        ]
    )
    event_type = T.StructType(
        [
            T.StructField("event_id", T.StringType()),
            T.StructField("event_type", T.StringType()),
            T.StructField("event_time", T.TimestampType()),
            T.StructField("produced_at", T.TimestampType()),
            T.StructField("transaction_id", T.StringType()),
            T.StructField("store_id", T.IntegerType()),
            T.StructField("channel", T.StringType()),
            T.StructField("customer_id", T.LongType()),
            T.StructField("payment_type", T.StringType()),
            T.StructField("lines", T.ArrayType(line_type)),
        ]
    )
    assert event_type == read_schema(SALES)
    sale = Row(
        event_id="s-1",
        event_type="sale",
        event_time=utc("2026-03-02 08:00:01.123"),
        produced_at=utc("2026-03-02 08:00:01.200"),
        transaction_id="t-1",
        store_id=12,
        channel="store",
        customer_id=501,
        payment_type="card",
        lines=[
            Row(
                line_number=1,
                product_id=1001,
                quantity=2,
                unit_price=Decimal("19.99"),
                discount=Decimal("0.00"),
            ),
            Row(
                line_number=2,
                product_id=1002,
                quantity=1,
                unit_price=Decimal("5.50"),
                discount=Decimal("0.50"),
            ),
        ],
    )
    expected = spark.createDataFrame(
        [(0, sale), (1, None)],
        T.StructType([T.StructField("offset", T.LongType()), T.StructField("sales", event_type)]),
    )
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


TS = pa.timestamp("us", tz="UTC")
MONEY = pa.decimal128(12, 2)
# what the driver receives (tests/unit/batch builds its inputs in this shape)
SALES_RECORDS_ARROW = pa.schema(
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
        ("event_id", pa.string()),
        ("event_type", pa.string()),
        ("event_time", TS),
        ("produced_at", TS),
        (
            "sales",
            pa.struct(
                [
                    ("event_id", pa.string()),
                    ("event_type", pa.string()),
                    ("event_time", TS),
                    ("produced_at", TS),
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
            ),
        ),
    ]
)


def test_validated_records_keep_the_kafka_record_and_reach_the_driver_as_arrow(spark):
    actual = validated(spark, SALES, [SALE.encode()]).toArrow()

    # field names and types; Spark marks nullability its own way
    assert [(f.name, f.type) for f in actual.schema] == [
        (f.name, f.type) for f in SALES_RECORDS_ARROW
    ]


def test_each_topic_is_checked_against_its_own_family(spark):
    kafka = kafka_rows(spark, [SALE.encode(), VIEW.encode()], topic="s").unionByName(
        kafka_rows(spark, [VIEW.encode(), SALE.encode()], topic="c")
    )

    checked = validated_records(kafka, {"s": SALES, "c": CLICKSTREAM})

    actual = checked.select(
        "topic",
        "offset",
        "reason",
        "reason_detail",
        "event_id",
        F.col("sales.event_id").alias("sale_id"),
        F.col("clickstream.event_id").alias("click_id"),
    )
    expected = spark.createDataFrame(
        [
            ("s", 0, None, None, "s-1", "s-1", None),
            ("s", 1, "unknown_event_type", "view", "c-1", None, None),
            ("c", 0, None, None, "c-1", None, "c-1"),
            ("c", 1, "unknown_event_type", "sale", "s-1", None, None),
        ],
        "topic string, offset long, reason string, reason_detail string, event_id string, "
        "sale_id string, click_id string",
    )
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


QUARANTINE_ARROW = pa.schema(
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


def test_quarantine_rows_carry_the_raw_payload_and_what_could_be_read(spark):
    payloads = [
        SALE.encode(),
        b'{"event_id": "x", "event_type": "sale", "store_id": "1',
        b'{"event_id": "s-9", "brand": "caf\xe9"}',
        changed(SALE, event_id="s-2", event_type="refund"),
        changed(SALE, event_id="s-3", channel="drone"),
        None,
    ]
    records = stamped(validated(spark, SALES, payloads).toArrow(), INGESTED_AT)

    actual = quarantine_rows(records, {"t": SALES})

    day = date(2026, 3, 2)
    refund = changed(SALE, event_id="s-2", event_type="refund").decode()
    drone = changed(SALE, event_id="s-3", channel="drone").decode()
    common = ("sales", "t", 0)
    expected = pa.Table.from_pylist(
        [
            dict(zip(QUARANTINE_ARROW.names, row, strict=True))
            for row in [
                (*common, 1, KAFKA_TIME, b"k",
                 '{"event_id": "x", "event_type": "sale", "store_id": "1', "malformed_json",
                 "payload is not valid JSON", None, None, INGESTED_AT, day),
                (*common, 2, KAFKA_TIME, b"k", '{"event_id": "s-9", "brand": "caf\ufffd"}',
                 "malformed_json", "payload is not valid UTF-8", None, None, INGESTED_AT, day),
                (*common, 3, KAFKA_TIME, b"k", refund, "unknown_event_type", "refund", "s-2",
                 "refund", INGESTED_AT, day),
                (*common, 4, KAFKA_TIME, b"k", drone, "invalid_value", "channel", "s-3", "sale",
                 INGESTED_AT, day),
                (*common, 5, KAFKA_TIME, b"k", None, "malformed_json", "value is null", None,
                 None, INGESTED_AT, day),
            ]
        ],
        schema=QUARANTINE_ARROW,
    )  # fmt: skip
    assert [(f.name, f.type) for f in actual.schema] == [(f.name, f.type) for f in QUARANTINE_ARROW]
    assert actual.sort_by("offset").to_pylist() == expected.to_pylist()


def test_reasons_do_not_depend_on_how_the_result_is_filtered(spark):
    """Silver keeps rows whose reason is null; the filter must see the same verdicts."""
    checked = validated(spark, SALES, [p for p, _, _ in SALES_CASES])

    kept = checked.where(F.col("reason").isNull()).select("offset")

    expected_offsets = [i for i, (_, reason, _) in enumerate(SALES_CASES) if reason is None]
    expected = spark.createDataFrame([(i,) for i in expected_offsets], "offset long")
    assert_df_equality(kept, expected, ignore_row_order=True, ignore_nullable=True)


def till_clock(moment: str, produced_at: str | None = None) -> bytes:
    """A sale from a till whose clock reads `moment`: it writes produced_at too."""
    return changed(SALE, event_time=moment, produced_at=produced_at or moment)


FUTURE = ("future_event_time", "event_time")
FUTURE_CASES = [
    # (payload, Kafka timestamp of the record, outcome against the Kafka timestamp in
    # Spark, outcome once the batch's read time is checked too). The batch is read at
    # INGESTED_AT = 08:00:06 and the Kafka timestamp says 08:00:05 unless given.
    (SALE.encode(), KAFKA_TIME, (None, None), (None, None)),
    # a till clock 59 s fast is within the skew allowed against arrival (60 s)
    (till_clock("2026-03-02T08:01:04.000Z"), KAFKA_TIME, (None, None), (None, None)),
    # 61 s ahead: produced_at says the same, since the same clock wrote it
    (till_clock("2026-03-02T08:01:06.000Z"), KAFKA_TIME, FUTURE, FUTURE),
    (
        till_clock("2099-01-01T00:00:00.000Z", "2099-01-01T00:00:00.100Z"),
        KAFKA_TIME,
        FUTURE,
        FUTURE,
    ),
    # CreateTime stamped by the same bad clock: the read time still bounds the arrival
    (
        till_clock("2099-01-01T00:00:00.000Z", "2099-01-01T00:00:00.100Z"),
        utc("2099-01-01 00:00:00.200"),
        (None, None),
        FUTURE,
    ),
    # no Kafka timestamp at all: the read time is the arrival
    (changed(SALE, event_time="2026-03-02T08:01:00.000Z"), None, (None, None), (None, None)),
    (changed(SALE, event_time="2026-03-02T08:01:06.001Z"), None, (None, None), FUTURE),
    # a clearly broken record keeps its earlier, more specific reason
    (
        changed(SALE, event_time="2099-01-01T00:00:00.000Z"),
        KAFKA_TIME,
        ("out_of_range", "event_time"),
        ("out_of_range", "event_time"),
    ),
    (
        changed(SALE, event_time="2099-01-01T00:00:00.000Z"),
        utc("2099-01-01 00:00:00.200"),
        ("out_of_range", "event_time"),
        ("out_of_range", "event_time"),
    ),
]


def test_event_times_ahead_of_arrival_are_quarantined_as_future(spark):
    rows = [
        (b"k", payload, "t", 0, offset, stamp, 0)
        for offset, (payload, stamp, _, _) in enumerate(FUTURE_CASES)
    ]
    checked = validated_records(spark.createDataFrame(rows, KAFKA_SCHEMA), {"t": SALES})

    # the Spark half checks the Kafka timestamp
    expected_in_spark = spark.createDataFrame(
        [(offset, *in_spark) for offset, (_, _, in_spark, _) in enumerate(FUTURE_CASES)],
        OUTCOME_SCHEMA,
    )
    assert_df_equality(
        checked.select("offset", "reason", "reason_detail"),
        expected_in_spark,
        ignore_row_order=True,
        ignore_nullable=True,
    )
    # the driver checks the time the batch was read
    records = stamped(checked.toArrow(), INGESTED_AT).sort_by("offset")
    actual = records.select(["offset", "reason", "reason_detail"]).to_pylist()
    assert actual == [
        {"offset": offset, "reason": reason, "reason_detail": detail}
        for offset, (_, _, _, (reason, detail)) in enumerate(FUTURE_CASES)
    ]
