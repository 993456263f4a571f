from __future__ import annotations

from datetime import date
from decimal import Decimal

from chispa import assert_df_equality
from pyspark.sql import Row
from pyspark.sql import functions as F
from transforms_support import (
    CHANGE,
    INGESTED_AT,
    KAFKA_TIME,
    SALE,
    SNAPSHOT,
    VIEW,
    changed,
    utc,
    validated,
)

from retail_lakehouse.contracts import CLICKSTREAM, INVENTORY, SALES
from spark_streaming.transforms.silver import (
    clickstream_events,
    inventory_changes,
    inventory_snapshots,
    outcomes,
    sales_lines,
    valid_events,
)

DAY = date(2026, 3, 2)


def events_of(spark, family, payloads, late_offsets=()):
    """Valid events of the payloads, flagged late at the given Kafka offsets."""
    events = valid_events(validated(spark, family, payloads))
    return events.withColumn("is_late", F.col("kafka_offset").isin(*late_offsets))


def test_valid_events_flattens_the_event_and_keeps_its_kafka_lineage(spark):
    checked = validated(spark, CLICKSTREAM, [b"{", VIEW.encode(), changed(VIEW, price=-1)])

    actual = valid_events(checked)

    expected = spark.createDataFrame(
        [
            (
                "c-1",
                "view",
                utc("2026-03-02 08:00:02"),
                utc("2026-03-02 08:00:02.010"),
                1001,
                2053013555631882655,
                "electronics.smartphone",
                "acme",
                Decimal("199.00"),
                520088904,
                "sess-1",
                0,
                1,
                KAFKA_TIME,
                INGESTED_AT,
            )
        ],
        "event_id string, event_type string, event_time timestamp, produced_at timestamp, "
        "product_id long, category_id long, category_code string, brand string, "
        "price decimal(12,2), user_id long, user_session string, kafka_partition int, "
        "kafka_offset long, kafka_timestamp timestamp, ingested_at timestamp",
    )
    assert_df_equality(actual, expected, ignore_nullable=True)


def test_outcomes_give_every_record_its_reason_and_the_valid_ones_their_lineage(spark):
    checked = validated(spark, CLICKSTREAM, [b"{", VIEW.encode(), changed(VIEW, price=-1)])

    actual = outcomes(checked, ["topic"])

    # the lineage is the same as valid_events' for a valid record
    lineage = valid_events(checked).select(
        "event_id", "event_time", "produced_at", "kafka_partition", "kafka_offset"
    )
    assert_df_equality(
        actual.where("reason IS NULL").drop("topic", "reason"), lineage, ignore_nullable=True
    )
    expected = spark.createDataFrame(
        [
            ("t", "malformed_json", None, None, None, 0, 0),
            ("t", None, "c-1", utc("2026-03-02 08:00:02"), utc("2026-03-02 08:00:02.010"), 0, 1),
            (
                "t",
                "out_of_range",
                "c-1",
                utc("2026-03-02 08:00:02"),
                utc("2026-03-02 08:00:02.010"),
                0,
                2,
            ),
        ],
        "topic string, reason string, event_id string, event_time timestamp, "
        "produced_at timestamp, kafka_partition int, kafka_offset long",
    )
    assert_df_equality(actual, expected, ignore_nullable=True)


SALES_LINES_SCHEMA = (
    "event_id string, transaction_id string, event_time timestamp, store_id int, "
    "channel string, customer_id long, payment_type string, line_number int, "
    "product_id long, quantity int, unit_price decimal(12,2), discount decimal(12,2), "
    "line_revenue decimal(12,2), produced_at timestamp, is_late boolean, "
    "ingested_at timestamp, kafka_partition int, kafka_offset long, event_date date"
)


def test_sales_lines_has_one_row_per_line_with_revenue_after_discount(spark):
    online = changed(
        SALE,
        event_id="s-2",
        transaction_id="t-2",
        channel="online",
        customer_id=None,
        lines=[
            {"line_number": 1, "product_id": 7, "quantity": 3, "unit_price": 0.1, "discount": 0.3}
        ],
    )
    events = events_of(spark, SALES, [SALE.encode(), online], late_offsets=[1])

    actual = sales_lines(events)

    sold_at, sent_at = utc("2026-03-02 08:00:01.123"), utc("2026-03-02 08:00:01.200")
    head = ("s-1", "t-1", sold_at, 12, "store", 501, "card")
    tail = (sent_at, False, INGESTED_AT, 0, 0, DAY)
    expected = spark.createDataFrame(
        [
            (*head, 1, 1001, 2, Decimal("19.99"), Decimal("0.00"), Decimal("39.98"), *tail),
            (*head, 2, 1002, 1, Decimal("5.50"), Decimal("0.50"), Decimal("5.00"), *tail),
            ("s-2", "t-2", sold_at, 12, "online", None, "card", 1, 7, 3, Decimal("0.10"),
             Decimal("0.30"), Decimal("0.00"), sent_at, True, INGESTED_AT, 0, 1, DAY),
        ],
        SALES_LINES_SCHEMA,
    )  # fmt: skip
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


def test_clickstream_events_keep_every_interaction(spark):
    purchase = changed(VIEW, event_id="c-2", event_type="purchase", brand=None)
    events = events_of(spark, CLICKSTREAM, [VIEW.encode(), purchase])

    actual = clickstream_events(events)

    at, sent = utc("2026-03-02 08:00:02"), utc("2026-03-02 08:00:02.010")
    common = (1001, 2053013555631882655, "electronics.smartphone")
    tail = (Decimal("199.00"), 520088904, "sess-1", sent, False, INGESTED_AT, 0)
    expected = spark.createDataFrame(
        [
            ("c-1", at, "view", *common, "acme", *tail, 0, DAY),
            ("c-2", at, "purchase", *common, None, *tail, 1, DAY),
        ],
        "event_id string, event_time timestamp, event_type string, product_id long, "
        "category_id long, category_code string, brand string, price decimal(12,2), "
        "user_id long, user_session string, produced_at timestamp, is_late boolean, "
        "ingested_at timestamp, kafka_partition int, kafka_offset long, event_date date",
    )
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


def test_inventory_changes_and_snapshots_each_take_their_own_event_type(spark):
    events = events_of(spark, INVENTORY, [CHANGE.encode(), SNAPSHOT.encode()])

    changes = inventory_changes(events)
    snapshots = inventory_snapshots(events)

    changed_at, change_sent = utc("2026-03-02 08:00:03"), utc("2026-03-02 08:00:03.001")
    change_tail = (change_sent, False, INGESTED_AT, 0, 0, DAY)
    expected_changes = spark.createDataFrame(
        [
            ("i-1", "t-1", changed_at, 12, "sale", 1001, -2, *change_tail),
            ("i-1", "t-1", changed_at, 12, "sale", 1002, -1, *change_tail),
        ],
        "event_id string, trans_id string, event_time timestamp, store_id int, "
        "change_type string, product_id long, quantity int, produced_at timestamp, "
        "is_late boolean, ingested_at timestamp, kafka_partition int, kafka_offset long, "
        "event_date date",
    )
    counted_at, count_sent = utc("2026-03-02 08:00:00"), utc("2026-03-02 08:00:00.500")
    count_tail = (count_sent, False, INGESTED_AT, 0, 1, DAY)
    expected_snapshots = spark.createDataFrame(
        [
            ("i-2", counted_at, 12, 1001, 40, *count_tail),
            ("i-2", counted_at, 12, 1002, 0, *count_tail),
        ],
        "event_id string, event_time timestamp, store_id int, product_id long, quantity int, "
        "produced_at timestamp, is_late boolean, ingested_at timestamp, kafka_partition int, "
        "kafka_offset long, event_date date",
    )
    assert_df_equality(changes, expected_changes, ignore_row_order=True, ignore_nullable=True)
    assert_df_equality(snapshots, expected_snapshots, ignore_row_order=True, ignore_nullable=True)


def test_event_date_is_the_utc_date_of_the_event_time(spark):
    # the evening before the records arrive (an event after its own arrival is quarantined)
    just_before_midnight = changed(SALE, event_time="2026-03-01T23:59:59.999Z")
    events = events_of(spark, SALES, [just_before_midnight])

    actual = sales_lines(events).select("event_time", "event_date").distinct()

    expected = spark.createDataFrame(
        [Row(utc("2026-03-01 23:59:59.999"), date(2026, 3, 1))],
        "event_time timestamp, event_date date",
    )
    assert_df_equality(actual, expected, ignore_nullable=True)
