"""Produce-to-visible latency measured from outside the job.

bronze: a row's Delta commit time minus its Kafka timestamp (the producer's send time);
silver: a row's commit time minus its produced_at;
gold:   the commit of the gold.sales_by_product_minute batch that carries a sale (the
        same app-transaction batch id as its silver commit, or else the first gold commit
        after it) minus the sale's produced_at. Late sales never reach gold and are left out.
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from bench.delta_log import Commit, commits, rows_by_commit
from retail_lakehouse import tables

BRONZE = (tables.BRONZE_SALES, tables.BRONZE_CLICKSTREAM, tables.BRONZE_INVENTORY)
SILVER = (
    tables.SILVER_SALES_LINES,
    tables.SILVER_CLICKSTREAM,
    tables.SILVER_INVENTORY_CHANGES,
    tables.SILVER_INVENTORY_SNAPSHOTS,
)


def table_dir(lake_root: str, spec: tables.TableSpec) -> Path:
    return Path(tables.table_uri(lake_root, spec))


def _ms(column: pa.ChunkedArray) -> np.ndarray:
    as_us = pc.cast(column, pa.timestamp("us", tz="UTC")).cast(pa.int64())
    return as_us.to_numpy(zero_copy_only=False) / 1000.0


def percentiles(values: Sequence[float] | np.ndarray) -> dict[str, float | int | None]:
    array = np.asarray(values, dtype=float)
    if array.size == 0:
        return {"n": 0, "p50_ms": None, "p95_ms": None, "p99_ms": None, "max_ms": None}
    p50, p95, p99 = np.percentile(array, [50, 95, 99])
    return {
        "n": int(array.size),
        "p50_ms": round(float(p50), 1),
        "p95_ms": round(float(p95), 1),
        "p99_ms": round(float(p99), 1),
        "max_ms": round(float(array.max()), 1),
    }


def _window(produced_ms: np.ndarray, since_ms: float, until_ms: float) -> np.ndarray:
    return (produced_ms >= since_ms) & (produced_ms < until_ms)


@dataclass(frozen=True)
class Samples:
    """Every row of a layer ever committed: when it was produced (sent, for bronze) and
    how long until the commit that made it visible, both in ms."""

    produced_ms: np.ndarray
    latency_ms: np.ndarray

    def within(self, since_ms: float, until_ms: float) -> np.ndarray:
        """Latencies of the rows produced in [since_ms, until_ms)."""
        return self.latency_ms[_window(self.produced_ms, since_ms, until_ms)]


def _samples(pairs: list[tuple[np.ndarray, np.ndarray]]) -> Samples:
    if not pairs:
        return Samples(np.array([]), np.array([]))
    return Samples(np.concatenate([p for p, _ in pairs]), np.concatenate([v for _, v in pairs]))


def bronze_samples(lake_root: str) -> Samples:
    pairs = []
    for spec in BRONZE:
        for commit, rows in rows_by_commit(table_dir(lake_root, spec), ["kafka_timestamp"]):
            sent = _ms(rows["kafka_timestamp"])
            pairs.append((sent, commit.timestamp_ms - sent))
    return _samples(pairs)


def _silver_rows(
    lake_root: str, spec: tables.TableSpec
) -> list[tuple[Commit, np.ndarray, np.ndarray]]:
    """(commit, produced_at ms, on time) per silver commit, one entry per event."""
    out = []
    for commit, rows in rows_by_commit(
        table_dir(lake_root, spec), ["event_id", "produced_at", "is_late"]
    ):
        # one event may have several rows (basket lines, items): keep one
        _, first = np.unique(rows["event_id"].to_numpy(zero_copy_only=False), return_index=True)
        produced = _ms(rows["produced_at"])[first]
        if "is_late" in rows.column_names:
            on_time = ~rows["is_late"].fill_null(False).to_numpy(zero_copy_only=False)[first]
        else:
            on_time = np.ones(len(first), dtype=bool)
        out.append((commit, produced, on_time))
    return out


def silver_samples(lake_root: str) -> Samples:
    pairs = []
    for spec in SILVER:
        for commit, produced, _ in _silver_rows(lake_root, spec):
            pairs.append((produced, commit.timestamp_ms - produced))
    return _samples(pairs)


def gold_commit_for(silver: Commit, gold: list[Commit], gold_times: list[int]) -> Commit | None:
    """The gold commit of the same micro-batch, else the first gold commit after silver's."""
    if silver.batch_ids:
        for commit in gold:
            if set(commit.batch_ids) & set(silver.batch_ids):
                return commit
    index = bisect.bisect_left(gold_times, silver.timestamp_ms)
    return gold[index] if index < len(gold) else None


def gold_samples(lake_root: str) -> Samples:
    """Every on-time sale: produced_at, and the commit of the gold.sales_by_product_minute
    batch that carries it minus produced_at."""
    gold = [c for c in commits(table_dir(lake_root, tables.SALES_BY_PRODUCT_MINUTE)) if c.added]
    gold_times = [c.timestamp_ms for c in gold]
    by_batch = {b: c for c in reversed(gold) for b in c.batch_ids}  # the first commit wins
    pairs = []
    for commit, produced, on_time in _silver_rows(lake_root, tables.SILVER_SALES_LINES):
        target = next((by_batch[b] for b in commit.batch_ids if b in by_batch), None)
        target = target or gold_commit_for(commit, gold, gold_times)
        if target is not None:
            pairs.append((produced[on_time], target.timestamp_ms - produced[on_time]))
    return _samples(pairs)


LAYERS: dict[str, Callable[[str], Samples]] = {
    "bronze": bronze_samples,
    "silver": silver_samples,
    "gold_sales_by_product_minute": gold_samples,
}


def lake_samples(lake_root: str) -> dict[str, Samples]:
    """Each layer's samples, read once from the Delta logs and files."""
    return {layer: read(lake_root) for layer, read in LAYERS.items()}


def bronze_latencies(lake_root: str, since_ms: float, until_ms: float) -> np.ndarray:
    return bronze_samples(lake_root).within(since_ms, until_ms)


def silver_latencies(lake_root: str, since_ms: float, until_ms: float) -> np.ndarray:
    return silver_samples(lake_root).within(since_ms, until_ms)


def gold_latencies(lake_root: str, since_ms: float, until_ms: float) -> np.ndarray:
    return gold_samples(lake_root).within(since_ms, until_ms)


def series(samples: Samples, since_ms: float, until_ms: float, buckets: int) -> list[dict]:
    """p50/p95 per slice of the run, by produce time: flat or growing."""
    edges = np.linspace(since_ms, until_ms, buckets + 1)
    return [
        {"t_s": round((low - since_ms) / 1000, 1), **percentiles(samples.within(low, high))}
        for low, high in itertools.pairwise(edges)
    ]


def outside_view(
    samples: dict[str, Samples], since_ms: float, until_ms: float
) -> dict[str, dict[str, float | int | None]]:
    """Percentiles per layer of the rows produced in the window."""
    return {layer: percentiles(s.within(since_ms, until_ms)) for layer, s in samples.items()}
