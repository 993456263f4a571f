"""Gold inventory levels: stock on hand per store and product.

On hand is the latest stock count (snapshot) plus every change that happened after
it, whatever order the events arrive in. A batch's rows are folded into the stored
level of each (store, product) it touches; late events count too, since stock is not
windowed. A change older than the stored count is already in that count and is
ignored. A count newer than the stored one restarts on-hand from that count plus every
change made after it (`changes_since`: the stored ones, read from silver by the
caller, and the batch's own), so changes applied in earlier batches but newer than the
count are kept.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime

import pyarrow as pa

from retail_lakehouse.tables import INVENTORY_LEVELS
from spark_streaming.lake_writer import MergeSpec

Key = tuple[int, int]  # (store_id, product_id)
# stored changes of `keys` made after `since`: (store_id, product_id, event_id, time, qty)
ChangesSince = Callable[[set[Key], datetime], list[tuple[int, int, str, datetime, int]]]

_TIMESTAMP = pa.timestamp("us", tz="UTC")
INVENTORY_LEVELS_SCHEMA = pa.schema(
    [
        ("store_id", pa.int32()),
        ("product_id", pa.int64()),
        ("on_hand", pa.int64()),
        ("last_snapshot_at", _TIMESTAMP),
        ("last_change_at", _TIMESTAMP),
        ("safety_stock", pa.int32()),
        ("is_below_safety_stock", pa.bool_()),
        ("updated_at", _TIMESTAMP),
    ]
)

# The function returns complete rows, so a match simply takes the new row
INVENTORY_LEVELS_MERGE = MergeSpec(keys=INVENTORY_LEVELS.keys)


@dataclass(frozen=True)
class Level:
    on_hand: int
    last_snapshot_at: datetime | None
    last_change_at: datetime | None


def levels_of(rows: pa.Table) -> dict[Key, Level]:
    """Stored inventory_levels rows as state."""
    return {
        (r["store_id"], r["product_id"]): Level(
            r["on_hand"], r["last_snapshot_at"], r["last_change_at"]
        )
        for r in rows.select(
            ["store_id", "product_id", "on_hand", "last_snapshot_at", "last_change_at"]
        ).to_pylist()
    }


def inventory_levels(
    changes: pa.Table,
    snapshots: pa.Table,
    stored: Mapping[Key, Level],
    safety_stock: Mapping[int, int],
    updated_at: datetime,
    changes_since: ChangesSince,
) -> pa.Table:
    """New inventory_levels rows for every (store_id, product_id) the batch touches.

    `changes` and `snapshots` are the batch's silver rows (late ones included).
    """
    batch_changes: dict[Key, list[tuple[str, datetime, int]]] = {}
    for r in changes.select(
        ["store_id", "product_id", "event_id", "event_time", "quantity"]
    ).to_pylist():
        key = (r["store_id"], r["product_id"])
        batch_changes.setdefault(key, []).append((r["event_id"], r["event_time"], r["quantity"]))
    counts = _latest_counts(snapshots)
    touched = sorted(set(batch_changes) | set(counts))

    baselines: dict[Key, tuple[bool, datetime | None, int]] = {}
    for key in touched:
        current = stored.get(key)
        count = counts.get(key)
        newer = count is not None and (
            current is None
            or current.last_snapshot_at is None
            or count[0] > current.last_snapshot_at
        )
        if newer:
            assert count is not None
            baselines[key] = (True, count[0], count[1])
        else:
            baselines[key] = (
                False,
                current.last_snapshot_at if current else None,
                current.on_hand if current else 0,
            )

    recounted = {key for key, (again, _, _) in baselines.items() if again}
    since_count: dict[Key, dict[str, tuple[datetime, int]]] = {}
    if recounted:
        earliest = min(baselines[key][1] for key in recounted)  # type: ignore[type-var]
        assert earliest is not None
        for store, product, event_id, moment, quantity in changes_since(recounted, earliest):
            since_count.setdefault((store, product), {})[event_id] = (moment, quantity)
        for key in recounted:  # the batch's own changes, once even if silver has them
            for event_id, moment, quantity in batch_changes.get(key, ()):
                since_count.setdefault(key, {})[event_id] = (moment, quantity)

    rows = []
    for key in touched:
        again, baseline_at, baseline_on_hand = baselines[key]
        source = (
            since_count.get(key, {}).values()
            if again
            else ((m, q) for _, m, q in batch_changes.get(key, ()))
        )
        moved = sum(q for m, q in source if baseline_at is None or m > baseline_at)
        current = stored.get(key)
        batch_change_at = max((m for _, m, _ in batch_changes.get(key, ())), default=None)
        on_hand = baseline_on_hand + moved
        safety = safety_stock.get(key[1])
        rows.append(
            {
                "store_id": key[0],
                "product_id": key[1],
                "on_hand": on_hand,
                "last_snapshot_at": _latest(
                    current.last_snapshot_at if current else None,
                    counts[key][0] if key in counts else None,
                ),
                "last_change_at": _latest(
                    current.last_change_at if current else None, batch_change_at
                ),
                "safety_stock": safety,
                # an unknown safety stock never raises the alarm
                "is_below_safety_stock": safety is not None and on_hand < safety,
                "updated_at": updated_at,
            }
        )
    return pa.Table.from_pylist(rows, schema=INVENTORY_LEVELS_SCHEMA)


def _latest_counts(snapshots: pa.Table) -> dict[Key, tuple[datetime, int]]:
    """The batch's newest count per store and product; of two counts taken at the same
    time, the one read last wins."""
    latest: dict[Key, tuple[tuple[datetime, int, int], int]] = {}
    columns = [
        "store_id",
        "product_id",
        "event_time",
        "kafka_partition",
        "kafka_offset",
        "quantity",
    ]
    for r in snapshots.select(columns).to_pylist():
        key = (r["store_id"], r["product_id"])
        order = (r["event_time"], r["kafka_partition"], r["kafka_offset"])
        if key not in latest or order > latest[key][0]:
            latest[key] = (order, r["quantity"])
    return {key: (order[0], quantity) for key, (order, quantity) in latest.items()}


def _latest(*moments: datetime | None) -> datetime | None:
    return max((m for m in moments if m is not None), default=None)
