"""Gold inventory levels: stock on hand per store and product.

On hand is the latest stock count (snapshot) plus every change that happened after
it, whatever order the events arrive in. A batch's rows are folded into the stored row
of each (store, product) it touches; late events count too, since stock is not
windowed. A change older than the stored count is already in that count and is
ignored. A count newer than the stored one restarts on-hand from that count plus the
stored changes made after it (`recent_changes`, read from silver by the caller), so
changes applied in earlier batches but newer than the count are kept.
"""

from __future__ import annotations

from datetime import datetime

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from retail_lakehouse.tables import INVENTORY_LEVELS
from spark_streaming.lake_writer import MergeSpec
from spark_streaming.transforms.literals import timestamp_literal

KEYS = list(INVENTORY_LEVELS.keys)

# What inventory_levels returns, also the shape of an empty gold table before its first batch
INVENTORY_LEVELS_SCHEMA = (
    "store_id int, product_id long, on_hand long, last_snapshot_at timestamp, "
    "last_change_at timestamp, safety_stock int, is_below_safety_stock boolean, "
    "updated_at timestamp"
)

# The function returns complete rows, so a match simply takes the new row
INVENTORY_LEVELS_MERGE = MergeSpec(keys=INVENTORY_LEVELS.keys)


def inventory_levels(
    changes: DataFrame,
    snapshots: DataFrame,
    current: DataFrame,
    products: DataFrame,
    updated_at: datetime,
    recent_changes: DataFrame | None = None,
) -> DataFrame:
    """New inventory_levels rows for every (store_id, product_id) the batch touches.

    `current` needs only the stored rows of the touched keys. `recent_changes` are the
    stored changes (this batch's included) of the touched keys made after the batch's
    earliest count; `changes` stands in for them when None (nothing stored before).
    """
    baselines = _baselines(_touched_keys(changes, snapshots), _latest_counts(snapshots), current)
    moved = _changes_since_baseline(
        changes, recent_changes if recent_changes is not None else changes, baselines
    )
    levels = baselines.join(moved, on=KEYS, how="left")
    safety = products.select(
        F.col("product_id").cast("long").alias("product_id"),
        F.col("safety_stock").cast("int").alias("safety_stock"),
    )
    on_hand = (F.col("baseline_on_hand") + F.coalesce("moved", F.lit(0))).cast("long")
    return levels.join(safety, on="product_id", how="left").select(
        F.col("store_id").cast("int").alias("store_id"),
        F.col("product_id").cast("long").alias("product_id"),
        on_hand.alias("on_hand"),
        "last_snapshot_at",
        # greatest() skips nulls: a key may have no stored row or no batch change
        F.greatest("current_change_at", "batch_change_at").alias("last_change_at"),
        "safety_stock",
        # an unknown safety stock never raises the alarm
        F.coalesce(on_hand < F.col("safety_stock"), F.lit(False)).alias("is_below_safety_stock"),
        timestamp_literal(updated_at).alias("updated_at"),
    )


def _touched_keys(changes: DataFrame, snapshots: DataFrame) -> DataFrame:
    return changes.select(*KEYS).unionByName(snapshots.select(*KEYS)).distinct()


def _latest_counts(snapshots: DataFrame) -> DataFrame:
    """The batch's newest count per store and product; of two counts taken at the same
    time, the one read last wins."""
    read_order = F.struct("event_time", "kafka_partition", "kafka_offset")
    return snapshots.groupBy(*KEYS).agg(
        F.max("event_time").alias("batch_snapshot_at"),
        F.max_by("quantity", read_order).cast("long").alias("batch_count"),
    )


def _baselines(touched: DataFrame, latest_counts: DataFrame, current: DataFrame) -> DataFrame:
    """Per touched key: the stock the batch's changes add to (`baseline_on_hand`) and
    the time it holds at (`baseline_at`; changes at or before it are already in it).

    A batch count newer than the stored one replaces it; an older count arriving late
    is ignored, as the stored on-hand already reflects a later state.
    """
    stored = current.select(
        *KEYS,
        F.col("on_hand").alias("current_on_hand"),
        F.col("last_snapshot_at").alias("current_snapshot_at"),
        F.col("last_change_at").alias("current_change_at"),
    )
    joined = touched.join(latest_counts, on=KEYS, how="left").join(stored, on=KEYS, how="left")
    newer_count = F.col("batch_snapshot_at").isNotNull() & (
        F.col("current_snapshot_at").isNull()
        | (F.col("batch_snapshot_at") > F.col("current_snapshot_at"))
    )
    return joined.select(
        *KEYS,
        newer_count.alias("recounted"),
        F.when(newer_count, F.col("batch_snapshot_at"))
        .otherwise(F.col("current_snapshot_at"))
        .alias("baseline_at"),
        F.when(newer_count, F.col("batch_count"))
        .otherwise(F.coalesce(F.col("current_on_hand"), F.lit(0)).cast("long"))
        .alias("baseline_on_hand"),
        F.greatest("current_snapshot_at", "batch_snapshot_at").alias("last_snapshot_at"),
        "current_change_at",
    )


def _changes_since_baseline(
    changes: DataFrame, recent_changes: DataFrame, baselines: DataFrame
) -> DataFrame:
    """Per key: the sum of changes after the baseline, and the batch's latest change.

    A recounted key starts from the batch's count: every stored change after it counts,
    whichever batch brought it. Any other key keeps its stored on-hand, which already
    holds the earlier batches' changes, so only this batch's changes are added.
    """
    after_baseline = F.col("baseline_at").isNull() | (F.col("event_time") > F.col("baseline_at"))
    moved = F.sum(F.when(after_baseline, F.col("quantity")).otherwise(F.lit(0))).cast("long")
    keyed = baselines.select(*KEYS, "baseline_at", "recounted")
    from_batch = (
        changes.join(keyed, on=KEYS, how="inner")
        .groupBy(*KEYS)
        .agg(
            F.sum(F.when(~F.col("recounted") & after_baseline, F.col("quantity")))
            .cast("long")
            .alias("batch_moved"),
            F.max("event_time").alias("batch_change_at"),
        )
    )
    since_count = (
        recent_changes.select(*KEYS, "event_time", "quantity")
        .join(keyed.where("recounted"), on=KEYS, how="inner")
        .groupBy(*KEYS)
        .agg(moved.alias("recount_moved"))
    )
    return from_batch.join(since_count, on=KEYS, how="full").select(
        *KEYS,
        (F.coalesce("batch_moved", F.lit(0)) + F.coalesce("recount_moved", F.lit(0))).alias(
            "moved"
        ),
        "batch_change_at",
    )
