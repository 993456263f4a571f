from __future__ import annotations

from datetime import UTC

from chispa import assert_df_equality
from transforms_support import utc

from retail_lakehouse import tables
from spark_streaming.transforms.inventory import INVENTORY_LEVELS_MERGE, inventory_levels

LEVELS_SCHEMA = (
    "store_id int, product_id long, on_hand long, last_snapshot_at timestamp, "
    "last_change_at timestamp, safety_stock int, is_below_safety_stock boolean, "
    "updated_at timestamp"
)
CHANGES_SCHEMA = (
    "event_id string, event_time timestamp, store_id int, change_type string, "
    "product_id long, quantity int, kafka_partition int, kafka_offset long"
)
SNAPSHOTS_SCHEMA = (
    "event_id string, event_time timestamp, store_id int, product_id long, quantity int, "
    "kafka_partition int, kafka_offset long"
)
BEFORE = utc("2026-03-02 08:59:00")
NOW = utc("2026-03-02 10:30:00")


def at(hh_mm: str):
    return utc(f"2026-03-02 {hh_mm}:00")


def stored(store_id, product_id, on_hand, last_snapshot_at, last_change_at, safety=None):
    below = safety is not None and on_hand < safety
    return (store_id, product_id, on_hand, last_snapshot_at, last_change_at, safety, below, BEFORE)


def change(store_id, product_id, quantity, when, offset=0):
    kind = "restock" if quantity > 0 else "sale"
    return (f"c-{offset}", when, store_id, kind, product_id, quantity, 0, offset)


def count(store_id, product_id, quantity, when, offset=0):
    return (f"s-{offset}", when, store_id, product_id, quantity, 1, offset)


def test_inventory_levels_fold_a_batch_into_the_stored_levels(spark):
    current = spark.createDataFrame(
        [
            stored(1, 2, 50, at("08:00"), at("08:30"), safety=10),
            stored(1, 3, 5, at("07:00"), at("07:30"), safety=15),
            stored(1, 4, 12, at("10:00"), at("10:05"), safety=1),
            stored(1, 5, 9, at("08:00"), None, safety=1),  # untouched by the batch
            stored(1, 8, -3, None, at("08:00")),
        ],
        LEVELS_SCHEMA,
    )
    changes = spark.createDataFrame(
        [
            # (1, 2) changes only: the one before the stored count is already in it
            change(1, 2, -3, at("09:10"), 1),
            change(1, 2, 10, at("09:20"), 2),
            change(1, 2, -5, at("07:59"), 3),
            # (1, 3) a new count in the batch, with changes before and after it
            change(1, 3, -2, at("08:59"), 4),
            change(1, 3, -4, at("09:01"), 5),
            change(1, 3, -1, at("09:30"), 6),
            # (1, 4) an older count arrives late and is ignored; so is an older change
            change(1, 4, -2, at("10:10"), 7),
            change(1, 4, -1, at("09:30"), 8),
            # (1, 6) changes between two counts of the batch are in the later count
            change(1, 6, -1, at("09:15"), 9),
            change(1, 6, -1, at("09:45"), 10),
            # (1, 8) stored from changes only, then counted
            change(1, 8, -1, at("08:30"), 11),
            # (2, 999) a product without a safety stock, never counted
            change(2, 999, 7, at("09:00"), 12),
        ],
        CHANGES_SCHEMA,
    )
    snapshots = spark.createDataFrame(
        [
            count(1, 1, 30, at("09:00"), 20),  # (1, 1) a first count, nothing stored
            count(1, 3, 20, at("09:00"), 21),
            count(1, 4, 99, at("09:00"), 22),
            count(1, 6, 8, at("09:00"), 23),
            count(1, 6, 3, at("09:30"), 24),
            # (1, 7) two counts at the same time: the one read last wins
            count(1, 7, 4, at("09:00"), 25),
            count(1, 7, 6, at("09:00"), 26),
            count(1, 8, 11, at("09:00"), 27),
        ],
        SNAPSHOTS_SCHEMA,
    )
    products = spark.createDataFrame(
        [(1, 40), (2, 10), (3, 15), (4, 1), (5, 1), (6, 5), (7, 6), (8, 12)],
        "product_id long, safety_stock int",
    )

    actual = inventory_levels(changes, snapshots, current, products, NOW)

    expected = spark.createDataFrame(
        [
            (1, 1, 30, at("09:00"), None, 40, True, NOW),
            (1, 2, 57, at("08:00"), at("09:20"), 10, False, NOW),
            (1, 3, 15, at("09:00"), at("09:30"), 15, False, NOW),
            (1, 4, 10, at("10:00"), at("10:10"), 1, False, NOW),
            (1, 6, 2, at("09:30"), at("09:45"), 5, True, NOW),
            (1, 7, 6, at("09:00"), None, 6, False, NOW),
            (1, 8, 11, at("09:00"), at("08:30"), 12, True, NOW),
            (2, 999, 7, None, at("09:00"), None, False, NOW),
        ],
        LEVELS_SCHEMA,
    )
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


def test_first_batch_starts_from_an_empty_table(spark):
    current = spark.createDataFrame([], LEVELS_SCHEMA)
    changes = spark.createDataFrame([change(3, 1, -4, at("09:00"))], CHANGES_SCHEMA)
    snapshots = spark.createDataFrame([], SNAPSHOTS_SCHEMA)
    products = spark.createDataFrame([(1, 0)], "product_id long, safety_stock int")

    actual = inventory_levels(changes, snapshots, current, products, NOW)

    # stock below zero is kept as reported: it shows a missed count or a missed restock
    expected = spark.createDataFrame([(3, 1, -4, None, at("09:00"), 0, True, NOW)], LEVELS_SCHEMA)
    assert_df_equality(actual, expected, ignore_nullable=True)


def test_levels_merge_on_store_and_product_and_replace_the_row():
    assert INVENTORY_LEVELS_MERGE.keys == tables.INVENTORY_LEVELS.keys == ("store_id", "product_id")
    assert INVENTORY_LEVELS_MERGE.updates is None


def test_a_count_older_than_applied_changes_keeps_them(spark):
    """Reordering: a count newer than the stored one but older than changes applied in
    earlier batches restarts from the count and keeps every stored change after it."""
    # stored: counted 40 at 08:00, then +10 at 09:10 and -2 at 09:40 (earlier batches)
    current = spark.createDataFrame(
        [
            stored(1, 2, 48, at("08:00"), at("09:40"), safety=10),
            stored(1, 3, 7, None, at("09:20")),  # changes only, then a count
        ],
        LEVELS_SCHEMA,
    )
    # silver after this batch's commit: earlier changes plus this batch's
    recent = spark.createDataFrame(
        [
            change(1, 2, 10, at("09:10"), 1),
            change(1, 2, -2, at("09:40"), 2),
            change(1, 2, -1, at("09:05"), 3),  # this batch, after the new count
            change(1, 2, -7, at("08:59"), 4),  # this batch, before the new count
            change(1, 3, 7, at("09:20"), 5),
        ],
        CHANGES_SCHEMA,
    )
    changes = recent.where("kafka_offset IN (3, 4)")
    snapshots = spark.createDataFrame(
        [count(1, 2, 45, at("09:00"), 20), count(1, 3, 30, at("09:00"), 21)], SNAPSHOTS_SCHEMA
    )
    products = spark.createDataFrame([(2, 10)], "product_id long, safety_stock int")

    actual = inventory_levels(changes, snapshots, current, products, NOW, recent_changes=recent)

    expected = spark.createDataFrame(
        [
            # 45 counted at 09:00, then -1 (09:05), +10 (09:10), -2 (09:40)
            (1, 2, 52, at("09:00"), at("09:40"), 10, False, NOW),
            # 30 counted at 09:00, then +7 (09:20)
            (1, 3, 37, at("09:00"), at("09:20"), None, False, NOW),
        ],
        LEVELS_SCHEMA,
    )
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


def test_any_arrival_order_gives_the_same_levels(spark):
    """The same events split into batches in every order end at the same on-hand,
    computed independently: latest count plus every change after it."""
    from itertools import permutations

    events = [
        ("count", count(1, 2, 40, at("08:00"), 1)),
        ("change", change(1, 2, 10, at("09:10"), 2)),
        ("count", count(1, 2, 45, at("09:00"), 3)),
        ("change", change(1, 2, -3, at("08:30"), 4)),
    ]
    products = spark.createDataFrame([], "product_id long, safety_stock int")
    # independent: count at 09:00 (45) plus the one change after it (+10)
    for order in list(permutations(events))[::8]:
        levels = spark.createDataFrame([], LEVELS_SCHEMA)
        silver_changes: list[tuple] = []
        for kind, row in order:
            batch_changes = [row] if kind == "change" else []
            silver_changes += batch_changes
            levels = inventory_levels(
                spark.createDataFrame(batch_changes, CHANGES_SCHEMA),
                spark.createDataFrame([row] if kind == "count" else [], SNAPSHOTS_SCHEMA),
                levels,
                products,
                NOW,
                recent_changes=spark.createDataFrame(silver_changes, CHANGES_SCHEMA),
            ).localCheckpoint()
        on_hand = [(r.on_hand, r.last_snapshot_at.replace(tzinfo=UTC)) for r in levels.collect()]
        assert on_hand == [(55, at("09:00"))], order
