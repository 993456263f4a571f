"""Gold inventory levels: stock on hand per store and product.

On hand is the latest stock count (snapshot) plus every change that happened after
it, whatever order the events arrive in. A batch's rows are folded into the stored
level of each (store, product) it touches; late events count too, since stock is not
windowed. A change older than the stored count is already in that count and is
ignored. A count newer than the stored one restarts on-hand from that count plus every
change made after it (`changes_since`: the stored ones, read from silver by the
caller, and the batch's own), so changes applied in earlier batches but newer than the
count are kept. Everything is Arrow joins and group-bys: a batch touching thousands of
keys costs milliseconds.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import pyarrow as pa
import pyarrow.compute as pc

from retail_lakehouse.tables import INVENTORY_LEVELS
from spark_streaming.lake_writer import MergeSpec

KEYS = ["store_id", "product_id"]
# stored changes of the keys (a store_id, product_id table) made after a time:
# store_id, product_id, event_id, event_time, quantity
ChangesSince = Callable[[pa.Table, datetime], pa.Table]

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
CHANGE_SCHEMA = pa.schema(
    [
        ("store_id", pa.int32()),
        ("product_id", pa.int64()),
        ("event_id", pa.string()),
        ("event_time", _TIMESTAMP),
        ("quantity", pa.int64()),
    ]
)
SAFETY_STOCK_SCHEMA = pa.schema([("product_id", pa.int64()), ("safety_stock", pa.int32())])

# The function returns complete rows, so a match simply takes the new row
INVENTORY_LEVELS_MERGE = MergeSpec(keys=INVENTORY_LEVELS.keys)


def no_levels() -> pa.Table:
    return INVENTORY_LEVELS_SCHEMA.empty_table()


def inventory_levels(
    changes: pa.Table,
    snapshots: pa.Table,
    stored: pa.Table,
    safety_stock: pa.Table,
    updated_at: datetime,
    changes_since: ChangesSince,
) -> pa.Table:
    """New inventory_levels rows for every (store_id, product_id) the batch touches.

    `changes` and `snapshots` are the batch's silver rows (late ones included);
    `stored` the stored levels (any superset of the touched keys' rows).
    """
    changes = _as_changes(changes)
    counts = _latest_counts(snapshots)
    touched = pa.concat_tables([changes.select(KEYS), counts.select(KEYS)])
    touched = touched.group_by(KEYS, use_threads=False).aggregate([])
    if touched.num_rows == 0:
        return no_levels()
    baselines = _baselines(touched, counts, stored)
    recounted = baselines.filter(baselines["recounted"])
    moved = _moved_since_baseline(changes, baselines.filter(pc.invert(baselines["recounted"])))
    if recounted.num_rows:
        earliest = pc.min(recounted["baseline_at"]).as_py()
        since = pa.concat_tables(
            [_as_changes(changes_since(recounted.select(KEYS), earliest)), changes]
        )
        # a change silver already holds and the batch brings again counts once
        since = since.group_by([*KEYS, "event_id"], use_threads=False).aggregate(
            [("event_time", "max"), ("quantity", "max")]
        )
        since = since.rename_columns([*KEYS, "event_id", "event_time", "quantity"])
        moved = pa.concat_tables([moved, _moved_since_baseline(since, recounted)])
    changed_at = changes.group_by(KEYS, use_threads=False).aggregate([("event_time", "max")])
    levels = (
        baselines.join(moved, KEYS, join_type="left outer")
        .join(changed_at, KEYS, join_type="left outer")
        .join(_safety(safety_stock), "product_id", join_type="left outer")
    )
    on_hand = pc.add(levels["baseline_on_hand"], pc.fill_null(levels["moved"], 0))
    safety = pc.cast(levels["safety_stock"], pa.int32())
    return pa.table(
        {
            "store_id": pc.cast(levels["store_id"], pa.int32()),
            "product_id": pc.cast(levels["product_id"], pa.int64()),
            "on_hand": pc.cast(on_hand, pa.int64()),
            "last_snapshot_at": levels["last_snapshot_at"],
            "last_change_at": _latest(levels["current_change_at"], levels["event_time_max"]),
            "safety_stock": safety,
            # an unknown safety stock never raises the alarm
            "is_below_safety_stock": pc.fill_null(pc.less(on_hand, safety), False),
            "updated_at": pa.array([updated_at] * levels.num_rows, _TIMESTAMP),
        },
        schema=INVENTORY_LEVELS_SCHEMA,
    ).sort_by([(k, "ascending") for k in KEYS])


def with_levels(stored: pa.Table, levels: pa.Table) -> pa.Table:
    """The stored levels with a batch's rows in place of the keys it touched."""
    kept = stored.join(levels.select(KEYS), KEYS, join_type="left anti")
    return pa.concat_tables([kept.select(levels.column_names).cast(levels.schema), levels])


def _as_changes(rows: pa.Table) -> pa.Table:
    return pa.table({f.name: pc.cast(rows[f.name], f.type) for f in CHANGE_SCHEMA})


def _latest_counts(snapshots: pa.Table) -> pa.Table:
    """The batch's newest count per store and product; of two counts taken at the same
    time, the one read last wins."""
    read_order = ["event_time", "kafka_partition", "kafka_offset"]
    ordered = snapshots.sort_by([(c, "ascending") for c in read_order])
    latest = ordered.group_by(KEYS, use_threads=False).aggregate(
        [("event_time", "last"), ("quantity", "last")]
    )
    return pa.table(
        {
            "store_id": pc.cast(latest["store_id"], pa.int32()),
            "product_id": pc.cast(latest["product_id"], pa.int64()),
            "batch_snapshot_at": pc.cast(latest["event_time_last"], _TIMESTAMP),
            "batch_count": pc.cast(latest["quantity_last"], pa.int64()),
        }
    )


def _baselines(touched: pa.Table, counts: pa.Table, stored: pa.Table) -> pa.Table:
    """Per touched key: the stock the batch's changes add to (`baseline_on_hand`) and
    the time it holds at (`baseline_at`; changes at or before it are already in it).

    A batch count newer than the stored one replaces it (`recounted`); an older count
    arriving late is ignored, as the stored on-hand already reflects a later state.
    """
    current = pa.table(
        {
            "store_id": pc.cast(stored["store_id"], pa.int32()),
            "product_id": pc.cast(stored["product_id"], pa.int64()),
            "current_on_hand": pc.cast(stored["on_hand"], pa.int64()),
            "current_snapshot_at": pc.cast(stored["last_snapshot_at"], _TIMESTAMP),
            "current_change_at": pc.cast(stored["last_change_at"], _TIMESTAMP),
        }
    )
    joined = touched.join(counts, KEYS, join_type="left outer").join(
        current, KEYS, join_type="left outer"
    )
    counted, before = joined["batch_snapshot_at"], joined["current_snapshot_at"]
    newer = pc.fill_null(
        pc.and_kleene(
            pc.is_valid(counted), pc.or_kleene(pc.is_null(before), pc.greater(counted, before))
        ),
        False,
    )
    return pa.table(
        {
            "store_id": joined["store_id"],
            "product_id": joined["product_id"],
            "recounted": newer,
            "baseline_at": pc.if_else(newer, counted, before),
            "baseline_on_hand": pc.if_else(
                newer, joined["batch_count"], pc.fill_null(joined["current_on_hand"], 0)
            ),
            "last_snapshot_at": _latest(before, counted),
            "current_change_at": joined["current_change_at"],
        }
    )


def _moved_since_baseline(changes: pa.Table, baselines: pa.Table) -> pa.Table:
    """Per key of `baselines`: the sum of `changes` made after its baseline time."""
    joined = changes.join(baselines.select([*KEYS, "baseline_at"]), KEYS, join_type="inner")
    after = pc.or_kleene(
        pc.is_null(joined["baseline_at"]), pc.greater(joined["event_time"], joined["baseline_at"])
    )
    moved = joined.filter(pc.fill_null(after, False))
    summed = moved.group_by(KEYS, use_threads=False).aggregate([("quantity", "sum")])
    return pa.table(
        {
            "store_id": summed["store_id"],
            "product_id": summed["product_id"],
            "moved": pc.cast(summed["quantity_sum"], pa.int64()),
        }
    )


def _safety(safety_stock: pa.Table) -> pa.Table:
    return pa.table(
        {
            "product_id": pc.cast(safety_stock["product_id"], pa.int64()),
            "safety_stock": pc.cast(safety_stock["safety_stock"], pa.int32()),
        }
    )


def _latest(a: pa.ChunkedArray, b: pa.ChunkedArray) -> pa.ChunkedArray:
    """The later of two times per row, skipping nulls (a key may have no stored row or
    no batch change); compared as µs, which max_element_wise takes."""
    later = pc.max_element_wise(pc.cast(a, pa.int64()), pc.cast(b, pa.int64()), skip_nulls=True)
    return pc.cast(later, _TIMESTAMP)
