from __future__ import annotations

from datetime import datetime
from itertools import permutations
from typing import NamedTuple

import pyarrow as pa
from batch_support import TS, assert_tables_equal, rows_table, utc

from retail_lakehouse import tables
from spark_streaming.batch.inventory import (
    CHANGE_SCHEMA,
    INVENTORY_LEVELS_MERGE,
    SAFETY_STOCK_SCHEMA,
    inventory_levels,
    with_levels,
)

Key = tuple[int, int]


class Level(NamedTuple):
    """A stored level, written the short way in these tests."""

    on_hand: int
    last_snapshot_at: datetime | None
    last_change_at: datetime | None


LEVELS = pa.schema(
    [
        ("store_id", pa.int32()),
        ("product_id", pa.int64()),
        ("on_hand", pa.int64()),
        ("last_snapshot_at", TS),
        ("last_change_at", TS),
        ("safety_stock", pa.int32()),
        ("is_below_safety_stock", pa.bool_()),
        ("updated_at", TS),
    ]
)
# the columns of the silver inventory tables that the levels read
CHANGES = pa.schema(
    [
        ("event_id", pa.string()),
        ("event_time", TS),
        ("store_id", pa.int32()),
        ("change_type", pa.string()),
        ("product_id", pa.int64()),
        ("quantity", pa.int32()),
        ("kafka_partition", pa.int32()),
        ("kafka_offset", pa.int64()),
    ]
)
SNAPSHOTS = pa.schema(
    [
        ("event_id", pa.string()),
        ("event_time", TS),
        ("store_id", pa.int32()),
        ("product_id", pa.int64()),
        ("quantity", pa.int32()),
        ("kafka_partition", pa.int32()),
        ("kafka_offset", pa.int64()),
    ]
)
NOW = utc("2026-03-02 10:30:00")


def at(hh_mm: str) -> datetime:
    return utc(f"2026-03-02 {hh_mm}:00")


def change(store_id, product_id, quantity, when, offset=0):
    kind = "restock" if quantity > 0 else "sale"
    return (f"c-{offset}", when, store_id, kind, product_id, quantity, 0, offset)


def count(store_id, product_id, quantity, when, offset=0):
    return (f"s-{offset}", when, store_id, product_id, quantity, 1, offset)


class Silver:
    """silver.inventory_changes as the processor reads it back: the stored changes of
    some keys made after a moment. Records what it was asked."""

    def __init__(self, changes=()):
        self.changes = list(changes)
        self.asked: list[tuple[set[Key], datetime]] = []

    def __call__(self, keys: pa.Table, since: datetime) -> pa.Table:
        wanted = set(zip(keys["store_id"].to_pylist(), keys["product_id"].to_pylist(), strict=True))
        self.asked.append((wanted, since))
        return rows_table(
            [
                (store, product, event_id, when, quantity)
                for event_id, when, store, _, product, quantity, _, _ in self.changes
                if (store, product) in wanted and when > since
            ],
            CHANGE_SCHEMA,
        )


def stored_table(stored: dict[Key, Level]) -> pa.Table:
    return rows_table(
        [(s, p, *level, None, False, NOW) for (s, p), level in stored.items()], LEVELS
    )


def as_state(table: pa.Table) -> dict[Key, Level]:
    return {
        (r["store_id"], r["product_id"]): Level(
            r["on_hand"], r["last_snapshot_at"], r["last_change_at"]
        )
        for r in table.to_pylist()
    }


def levels(changes, snapshots, stored, safety, silver=None):
    return inventory_levels(
        rows_table(changes, CHANGES),
        rows_table(snapshots, SNAPSHOTS),
        stored_table(stored),
        rows_table(list(safety.items()), SAFETY_STOCK_SCHEMA),
        NOW,
        silver if silver is not None else Silver(),
    )


def test_inventory_levels_fold_a_batch_into_the_stored_levels():
    stored = {
        (1, 2): Level(50, at("08:00"), at("08:30")),
        (1, 3): Level(5, at("07:00"), at("07:30")),
        (1, 4): Level(12, at("10:00"), at("10:05")),
        (1, 5): Level(9, at("08:00"), None),  # untouched by the batch
        (1, 8): Level(-3, None, at("08:00")),
    }
    changes = [
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
    ]
    snapshots = [
        count(1, 1, 30, at("09:00"), 20),  # (1, 1) a first count, nothing stored
        count(1, 3, 20, at("09:00"), 21),
        count(1, 4, 99, at("09:00"), 22),
        count(1, 6, 8, at("09:00"), 23),
        count(1, 6, 3, at("09:30"), 24),
        # (1, 7) two counts at the same time: the one read last wins
        count(1, 7, 4, at("09:00"), 25),
        count(1, 7, 6, at("09:00"), 26),
        count(1, 8, 11, at("09:00"), 27),
    ]
    safety = {1: 40, 2: 10, 3: 15, 4: 1, 5: 1, 6: 5, 7: 6, 8: 12}
    silver = Silver(
        [
            # what earlier batches stored: the change (1, 8) was stored from
            change(1, 8, -3, at("08:00"), 0),
            # after the batch's earliest count, but before the latest count of (1, 6)
            change(1, 6, -5, at("09:20"), 13),
        ]
    )

    actual = levels(changes, snapshots, stored, safety, silver)

    expected = rows_table(
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
        LEVELS,
    )
    assert_tables_equal(actual, expected, keys=["store_id", "product_id"])
    # silver is asked once, for the recounted keys only, from the earliest new count
    assert silver.asked == [({(1, 1), (1, 3), (1, 6), (1, 7), (1, 8)}, at("09:00"))]


def test_first_batch_starts_from_an_empty_table():
    actual = levels([change(3, 1, -4, at("09:00"))], [], {}, {1: 0})

    # stock below zero is kept as reported: it shows a missed count or a missed restock
    expected = rows_table([(3, 1, -4, None, at("09:00"), 0, True, NOW)], LEVELS)
    assert_tables_equal(actual, expected)


def test_an_unknown_safety_stock_never_raises_the_alarm():
    actual = levels([change(1, 2, -9, at("09:00"))], [], {(1, 2): Level(5, None, None)}, {})

    expected = rows_table([(1, 2, -4, None, at("09:00"), None, False, NOW)], LEVELS)
    assert_tables_equal(actual, expected)


def test_a_batch_without_inventory_events_has_no_levels():
    actual = levels([], [], {(1, 2): Level(5, at("08:00"), None)}, {2: 1})

    assert_tables_equal(actual, rows_table([], LEVELS))


def test_a_count_older_than_applied_changes_keeps_them():
    """Reordering: a count newer than the stored one but older than changes applied in
    earlier batches restarts from the count and keeps every stored change after it."""
    # stored: counted 40 at 08:00, then +10 at 09:10 and -2 at 09:40 (earlier batches)
    stored = {
        (1, 2): Level(48, at("08:00"), at("09:40")),
        (1, 3): Level(7, None, at("09:20")),  # changes only, then a count
    }
    earlier = [
        change(1, 2, 10, at("09:10"), 1),
        change(1, 2, -2, at("09:40"), 2),
        change(1, 3, 7, at("09:20"), 5),
    ]
    batch = [
        change(1, 2, -1, at("09:05"), 3),  # after the new count
        change(1, 2, -7, at("08:59"), 4),  # before the new count
    ]
    snapshots = [count(1, 2, 45, at("09:00"), 20), count(1, 3, 30, at("09:00"), 21)]

    actual = levels(batch, snapshots, stored, {2: 10}, Silver(earlier))

    expected = rows_table(
        [
            # 45 counted at 09:00, then -1 (09:05), +10 (09:10), -2 (09:40)
            (1, 2, 52, at("09:00"), at("09:40"), 10, False, NOW),
            # 30 counted at 09:00, then +7 (09:20)
            (1, 3, 37, at("09:00"), at("09:20"), None, False, NOW),
        ],
        LEVELS,
    )
    assert_tables_equal(actual, expected, keys=["store_id", "product_id"])


def test_the_batch_own_changes_count_once_when_silver_already_has_them():
    """A replayed batch: silver committed the batch's changes before the crash."""
    stored = {(1, 2): Level(48, at("08:00"), at("09:40"))}
    earlier = [change(1, 2, 10, at("09:10"), 1), change(1, 2, -2, at("09:40"), 2)]
    batch = [change(1, 2, -1, at("09:05"), 3), change(1, 2, -7, at("08:59"), 4)]
    snapshots = [count(1, 2, 45, at("09:00"), 20)]

    actual = levels(batch, snapshots, stored, {2: 10}, Silver(earlier + batch))

    # 45 counted at 09:00, then -1 (09:05), +10 (09:10), -2 (09:40): as without the replay
    expected = rows_table([(1, 2, 52, at("09:00"), at("09:40"), 10, False, NOW)], LEVELS)
    assert_tables_equal(actual, expected)


def test_any_arrival_order_gives_the_same_levels():
    """The same events split into batches in every order end at the same on-hand,
    computed independently: latest count plus every change after it."""
    events = [
        ("count", count(1, 2, 40, at("08:00"), 1)),
        ("change", change(1, 2, 10, at("09:10"), 2)),
        ("count", count(1, 2, 45, at("09:00"), 3)),
        ("change", change(1, 2, -3, at("08:30"), 4)),
    ]
    # independent: count at 09:00 (45) plus the one change after it (+10)
    for order in permutations(events):
        stored: dict[Key, Level] = {}
        silver = Silver()
        for kind, row in order:
            batch_changes = [row] if kind == "change" else []
            batch_counts = [row] if kind == "count" else []
            rows = levels(batch_changes, batch_counts, stored, {}, silver)
            stored = as_state(with_levels(stored_table(stored), rows))
            silver.changes += batch_changes  # committed after the levels are computed
        assert stored == {(1, 2): Level(55, at("09:00"), at("09:10"))}, order


def test_a_batch_replaces_the_state_rows_of_the_keys_it_touched():
    stored = stored_table(
        {(1, 2): Level(57, at("08:00"), at("09:20")), (2, 999): Level(7, None, at("09:00"))}
    )
    batch = rows_table([(1, 2, 50, at("10:00"), at("09:20"), 10, False, NOW)], LEVELS)

    assert as_state(with_levels(stored, batch)) == {
        (1, 2): Level(50, at("10:00"), at("09:20")),
        (2, 999): Level(7, None, at("09:00")),
    }


def test_levels_merge_on_store_and_product_and_replace_the_row():
    assert INVENTORY_LEVELS_MERGE.keys == tables.INVENTORY_LEVELS.keys == ("store_id", "product_id")
    assert INVENTORY_LEVELS_MERGE.updates is None
