"""The foreachBatch function of the pipeline's one query over every family's topic.

Per micro-batch: one Spark job parses and validates every record and brings the
result back as Arrow (the query applies `transforms.validated_records`); the driver
then splits it per
family, de-duplicates against a small index, flags late events, builds silver rows
and the gold contributions, and commits. Gold commits go first, since they decide
how soon an event is visible: a family's gold merges start as soon as it is prepared,
while the next family is; bronze, quarantine and silver commit beside them, and the
batch's ops rows last: they mark the batch complete.

Every commit carries a Delta app transaction (query id, batch id), so a batch Spark
replays after a crash is skipped table by table, and the Kafka offsets read so far,
so that a lost checkpoint neither loses nor doubles anything (`recovery`).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from functools import partial

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pyspark.sql import DataFrame

from retail_lakehouse import tables
from retail_lakehouse.contracts import EventFamily
from retail_lakehouse.durations import duration_seconds
from retail_lakehouse.logs import kv
from retail_lakehouse.settings import Settings
from retail_lakehouse.tables import TableSpec
from spark_streaming.batch import inventory, recovery, silver_minutes
from spark_streaming.batch.dedup import (
    Candidate,
    EventIndex,
    EventTimeState,
    candidates_of,
    decide,
    moment,
)
from spark_streaming.batch.plans import FamilyPlan
from spark_streaming.batch.records import (
    bronze_rows,
    by_topic,
    is_late,
    offsets_after,
    quarantine_rows,
    stamped,
    valid_events,
)
from spark_streaming.batch.silver_minutes import SilverMinutes
from spark_streaming.batch_metrics import BatchMetrics, ops_rows
from spark_streaming.lake_writer import BatchTxn, LakeWriter, MergeSpec
from spark_streaming.maintenance import PeriodicMaintenance

log = logging.getLogger(__name__)

QUERY_NAME = "retail_pipeline"
_WRITERS = 8  # commits of one batch in flight at once (delta-rs releases the GIL)


@dataclass
class FamilyState:
    """What the driver keeps of one family between batches."""

    clock: EventTimeState
    index: EventIndex
    silver: SilverMinutes  # silver's ids of the old minutes late events fall in
    levels: pa.Table = field(default_factory=inventory.no_levels)


@dataclass
class FamilyBatch:
    """One family's share of a micro-batch, computed before anything is committed."""

    plan: FamilyPlan
    topic: str
    metrics: BatchMetrics
    bronze: pa.Table
    stored: list[Candidate]
    stored_rows: pa.Table  # the same events, silver_minutes.COLUMNS
    produced_at: np.ndarray  # µs since the epoch, of the events gold now reflects
    silver: dict[TableSpec, pa.Table]
    gold: list[tuple[TableSpec, pa.Table, MergeSpec]]
    gold_done: float | None = None


class PipelineBatchProcessor:
    """Callable passed to `foreachBatch`; holds each family's state."""

    def __init__(
        self,
        plans: Iterable[FamilyPlan],
        settings: Settings,
        writer: LakeWriter,
        *,
        query_name: str = QUERY_NAME,
    ) -> None:
        self.plans = {settings.topic(p.family): p for p in plans}
        self.families: dict[str, EventFamily] = {t: p.family for t, p in self.plans.items()}
        self.settings = settings
        self.writer = writer
        self.query_name = query_name
        self.delay = timedelta(seconds=duration_seconds(settings.watermark_delay))
        self.window = timedelta(seconds=duration_seconds(settings.window_duration))
        self.state: dict[str, FamilyState] | None = None
        self.read_offsets: recovery.Offsets = {}
        self.marks: dict[str, recovery.Offsets] = {}
        self._safety_stock: pa.Table | None = None
        self._app_id: str | None = None
        self._bound = threading.Event()
        self._pool = ThreadPoolExecutor(max_workers=_WRITERS, thread_name_prefix="lake-commit")
        self.maintenance = PeriodicMaintenance(
            writer, self._all_tables(), settings.maintain_every_batches
        )
        # read by the demo, the tests and `--until-idle` to know how far the stream got
        self.records_read: Counter[str] = Counter()
        self.last_batch_monotonic: float | None = None
        self.in_batch = False  # a long batch is work in progress, not idleness
        # the last batches' metrics, for profiling
        self.history: deque[BatchMetrics] = deque(maxlen=1_000)

    @property
    def input_rows_total(self) -> int:
        return sum(self.records_read.values())

    def bind(self, query_id: str) -> None:
        """Key app transactions by the query's id, which lives in its checkpoint."""
        self._app_id = f"{self.query_name}-{query_id}"
        self._bound.set()

    def __call__(self, batch_df: DataFrame, batch_id: int) -> None:
        """`batch_df`: the micro-batch's records through `validated_records`, which the
        streaming query applies, so Spark analyses that large plan once, not per batch."""
        self.in_batch = True
        try:
            self._process(batch_df, batch_id)
        finally:
            self.in_batch = False

    # -- the batch -------------------------------------------------------------------

    def _process(self, batch_df: DataFrame, batch_id: int) -> None:
        if not self._bound.wait(timeout=120) or self._app_id is None:
            raise RuntimeError("batch processor was never bound to its streaming query")
        if self.writer.is_committed(tables.STREAM_BATCHES, BatchTxn(self._app_id, batch_id)):
            log.info(kv("batch_already_committed", query=self.query_name, batch=batch_id))
            self.last_batch_monotonic = time.monotonic()
            return
        started_at = _now()
        timer = BatchMetrics(self.query_name, "all", batch_id, started_at)
        with timer.phase("read_validate"):
            # the batch's one Spark job: the query's own plan, read and validated
            collected = batch_df.toArrow()
        state = self._recovered_state()
        records = stamped(collected, started_at)
        read = _merged(self.read_offsets, offsets_after(records))
        txn = BatchTxn(
            self._app_id, batch_id, recovery.commit_note(self.query_name, batch_id, read)
        )
        parts: list[FamilyBatch] = []
        futures: list[Future[bool]] = []
        try:
            with timer.phase("prepare"):
                for topic, rows in by_topic(records, self.plans).items():
                    part = self._prepare(topic, rows, state, batch_id, started_at, read)
                    if part.metrics.input_rows:
                        parts.append(part)
                        # a family's gold is written while the next family is prepared
                        futures += self._submit_gold(part, txn)
                quarantine = self._unwritten_quarantine(quarantine_rows(records, self.families))
            with timer.phase("commit"):
                futures += self._submit_rest(parts, quarantine, txn)
                self._finish(parts, futures)
        except BaseException:
            # a failed batch is replayed: nothing of it may still be in flight by then
            wait(futures)
            raise
        for part in parts:
            part.metrics.committed_at = _now()
            part.metrics.phase_ms = dict(timer.phase_ms)
        with timer.phase("ops"):
            if parts:
                self.writer.append(tables.STREAM_BATCHES, ops_rows([p.metrics for p in parts]), txn)
        self._advance(parts, state, read)
        self.maintenance.after_batch(batch_id)
        self.last_batch_monotonic = time.monotonic()
        for part in parts:
            self.records_read[part.topic] += part.metrics.input_rows
            self.history.append(replace(part.metrics, latencies_ms=[]))
            log.info(kv("batch_committed", query=self.query_name, **part.metrics.as_log_fields()))

    def _prepare(
        self,
        topic: str,
        records: pa.Table,
        state: dict[str, FamilyState],
        batch_id: int,
        started_at: datetime,
        read: recovery.Offsets,
    ) -> FamilyBatch:
        plan = self.plans[topic]
        family = plan.family.name
        fam = state[family]
        metrics = BatchMetrics(self.query_name, family, batch_id, started_at)
        metrics.input_rows = records.num_rows
        metrics.end_offsets = _json({topic: read.get(topic, {})})
        metrics.watermark = watermark = fam.clock.watermark
        reasons = pc.value_counts(pc.drop_null(records["reason"])).to_pylist()
        metrics.quarantine_reasons = {r["values"]: r["counts"] for r in reasons}
        metrics.quarantined_rows = sum(metrics.quarantine_reasons.values())

        events = valid_events(records, plan.family)
        metrics.valid_events = events.num_rows
        event_us = pc.cast(events["event_time"], pa.int64())
        decision = decide(
            candidates_of(
                events["event_id"].to_pylist(),
                event_us.to_pylist(),
                events["kafka_partition"].to_pylist(),
                events["kafka_offset"].to_pylist(),
            ),
            fam.index,
            fam.silver,
            self.delay,
        )
        stored = events
        if decision.duplicates:
            dropped = pa.array([_position_key(r[2], r[3]) for r in decision.duplicates])
            position = _position_keys(events["kafka_partition"], events["kafka_offset"])
            stored = events.filter(pc.invert(pc.is_in(position, value_set=dropped)))
        stored = stored.append_column("is_late", is_late(stored, watermark))
        metrics.stored_events = stored.num_rows
        metrics.duplicate_events = len(decision.duplicates)
        metrics.late_events = pc.sum(stored["is_late"]).as_py() or 0
        newest = pc.max(stored["event_time"]).as_py() if stored.num_rows else None
        metrics.max_event_time = max(
            (t for t in (fam.clock.max_event_time, newest) if t is not None), default=None
        )
        # produce-to-gold counts the events gold reflects: on-time ones, and every stock
        # change (stock is not windowed, a late change still moves on-hand now)
        visible = (
            stored if plan.keeps_inventory_levels else stored.filter(pc.invert(stored["is_late"]))
        )
        produced_us = pc.cast(pc.drop_null(visible["produced_at"]), pa.int64())
        produced_at = produced_us.to_numpy(zero_copy_only=False)

        built = {spec: build(stored) for spec, build in plan.silver}
        silver_rows = {spec: self._admitted(spec, topic, rows) for spec, rows in built.items()}
        updated_at = _now()
        gold: list[tuple[TableSpec, pa.Table, MergeSpec]] = []
        for target in plan.windowed_gold:
            rows = self._admitted(target.spec, topic, built[target.source])
            on_time = rows.filter(pc.invert(rows["is_late"]))
            gold.append(
                (target.spec, target.contribution(on_time, self.window, updated_at), target.merge)
            )
        if plan.keeps_inventory_levels:
            changes, snapshots = (
                self._admitted(tables.INVENTORY_LEVELS, topic, rows) for rows in built.values()
            )
            levels = inventory.inventory_levels(
                changes, snapshots, fam.levels, self._safety_stocks(), updated_at,
                self._changes_since,
            )  # fmt: skip
            gold.append((tables.INVENTORY_LEVELS, levels, inventory.INVENTORY_LEVELS_MERGE))
        bronze = recovery.beyond(
            bronze_rows(records), topic, self.marks.get(plan.bronze.qualified_name)
        )
        return FamilyBatch(
            plan,
            topic,
            metrics,
            bronze,
            decision.keep,
            stored.select(silver_minutes.COLUMNS),
            produced_at,
            silver_rows,
            gold,
        )

    def _submit_gold(self, part: FamilyBatch, txn: BatchTxn) -> list[Future[bool]]:
        """Start the family's gold merges: they decide how soon its events are visible."""
        merges = [
            self._pool.submit(self.writer.merge, spec, rows, merge, txn)
            for spec, rows, merge in part.gold
        ]
        if merges:
            merges[0].add_done_callback(_stamp_gold(part))
        else:
            part.gold_done = time.monotonic()
        return merges

    def _submit_rest(
        self, parts: list[FamilyBatch], quarantine: pa.Table, txn: BatchTxn
    ) -> list[Future[bool]]:
        """Start bronze, silver and quarantine, beside the gold merges in flight."""
        futures: list[Future[bool]] = []
        for part in parts:
            for spec, rows in part.silver.items():
                futures.append(self._pool.submit(self.writer.append, spec, rows, txn))
            futures.append(
                self._pool.submit(self.writer.append, part.plan.bronze, part.bronze, txn)
            )
        if quarantine.num_rows:
            futures.append(
                self._pool.submit(self.writer.append, tables.QUARANTINE, quarantine, txn)
            )
        return futures

    def _finish(self, parts: list[FamilyBatch], futures: list[Future[bool]]) -> None:
        """Wait for every commit; raise the first failure once all have finished (a
        failed batch is replayed whole, each table skipping what it committed)."""
        errors = [f.exception() for f in futures]
        failed = next((e for e in errors if e is not None), None)
        if failed is not None:
            raise failed
        now, wall = time.monotonic(), _now()
        for part in parts:
            done = part.gold_done or now
            gold_us = (wall.timestamp() - (now - done)) * 1_000_000
            part.metrics.latencies_ms = ((gold_us - part.produced_at) / 1000).tolist()

    def _advance(
        self, parts: list[FamilyBatch], state: dict[str, FamilyState], read: recovery.Offsets
    ) -> None:
        """After the batch is complete: the state moves on with what was stored."""
        for part in parts:
            fam = state[part.plan.family.name]
            fam.index.add(part.stored)
            fam.silver.remember(part.stored_rows)
            if part.metrics.max_event_time is not None:
                fam.clock.advance([part.metrics.max_event_time])
            fam.index.evict_before(fam.clock.max_event_time)
            for spec, rows, _ in part.gold:
                if spec == tables.INVENTORY_LEVELS:
                    fam.levels = inventory.with_levels(fam.levels, rows)
        self.read_offsets = read
        self.marks = {
            name: mark for name, mark in self.marks.items() if not recovery.passed(mark, read)
        }

    # -- state, recovered from the lake on the first batch --------------------------

    def _recovered_state(self) -> dict[str, FamilyState]:
        if self.state is not None:
            return self.state
        last = recovery.last_batches(self.writer, self.query_name)
        self.read_offsets = recovery.recorded_offsets(last)
        self.marks = recovery.table_marks(self.writer, self._all_tables(), self.query_name)
        state: dict[str, FamilyState] = {}
        for plan in self.plans.values():
            name = plan.family.name
            newest = (last.get(name) or {}).get("max_event_time")
            clock = EventTimeState(self.delay, newest)
            index = EventIndex(horizon=2 * self.delay)
            index.evict_before(newest)
            if index.floor is not None:
                index.add(self._stored_since(plan, moment(index.floor)))
            silver = SilverMinutes(partial(self._silver_rows, plan))
            fam = FamilyState(clock, index, silver)
            if plan.keeps_inventory_levels:
                stored = self.writer.read_arrow(tables.INVENTORY_LEVELS)
                if stored is not None:
                    fam.levels = stored.cast(inventory.INVENTORY_LEVELS_SCHEMA)
            state[name] = fam
            log.info(
                kv(
                    "state_recovered",
                    family=name,
                    watermark=clock.watermark,
                    indexed_ids=len(index),
                    resumes_after_batch=(last.get(name) or {}).get("batch_id"),
                )
            )
        self.state = state
        return state

    def _stored_since(self, plan: FamilyPlan, floor: datetime) -> list[Candidate]:
        """The family's stored events with event times from `floor` on, from silver."""
        where = f"event_time >= '{floor.isoformat()}' AND event_date >= '{floor.date()}'"
        rows = self._silver_rows(plan, where)
        return candidates_of(
            rows["event_id"].to_pylist(),
            pc.cast(rows["event_time"], pa.int64()).to_pylist(),
            rows["kafka_partition"].to_pylist(),
            rows["kafka_offset"].to_pylist(),
        )

    def _silver_rows(self, plan: FamilyPlan, where: str) -> pa.Table:
        """The family's silver rows `where` selects, what identifies each event only."""
        found = [
            rows
            for spec, _ in plan.silver
            if (rows := self.writer.read_arrow(spec, silver_minutes.COLUMNS, where)) is not None
        ]
        return (
            pa.concat_tables([rows.cast(silver_minutes.SCHEMA) for rows in found])
            if found
            else silver_minutes.SCHEMA.empty_table()
        )

    def _changes_since(self, keys: pa.Table, since: datetime) -> pa.Table:
        stores = ", ".join(str(v) for v in sorted(set(keys["store_id"].to_pylist())))
        products = ", ".join(str(v) for v in sorted(set(keys["product_id"].to_pylist())))
        rows = self.writer.read_arrow(
            tables.SILVER_INVENTORY_CHANGES,
            ["store_id", "product_id", "event_id", "event_time", "quantity"],
            # a superset of the keys' rows; the caller's join keeps the exact ones
            f"store_id IN ({stores}) AND product_id IN ({products}) "
            f"AND event_time > '{since.isoformat()}' AND event_date >= '{since.date()}'",
        )
        return rows if rows is not None else inventory.CHANGE_SCHEMA.empty_table()

    def _safety_stocks(self) -> pa.Table:
        if self._safety_stock is None:
            rows = self.writer.read_arrow(tables.PRODUCTS, ["product_id", "safety_stock"])
            if rows is None:
                log.warning(kv("reference_products_missing", effect="safety stock unknown"))
                return inventory.SAFETY_STOCK_SCHEMA.empty_table()
            self._safety_stock = rows
        return self._safety_stock

    # -- a lost checkpoint: tables that hold part of a batch already -----------------

    def _admitted(self, spec: TableSpec, topic: str, rows: pa.Table) -> pa.Table:
        """A table's silver-shaped rows it does not hold yet (see `recovery.beyond`)."""
        mark = self.marks.get(spec.qualified_name)
        return recovery.beyond(rows, topic, mark, "kafka_partition", "kafka_offset")

    def _unwritten_quarantine(self, rows: pa.Table) -> pa.Table:
        mark = self.marks.get(tables.QUARANTINE.qualified_name)
        if not mark or rows.num_rows == 0:
            return rows
        parts = [recovery.beyond(r, t, mark) for t, r in by_topic(rows, self.plans).items()]
        return pa.concat_tables(parts)

    def _all_tables(self) -> list[TableSpec]:
        specs = {s.qualified_name: s for p in self.plans.values() for s in p.own_tables}
        specs[tables.QUARANTINE.qualified_name] = tables.QUARANTINE
        return list(specs.values())


def _position_key(partition: int, offset: int) -> int:
    return (partition << 48) | offset


def _position_keys(partitions: pa.ChunkedArray, offsets: pa.ChunkedArray) -> pa.ChunkedArray:
    """(partition, offset) as one int64 per record, as `_position_key` makes it."""
    shifted = pc.shift_left(pc.cast(partitions, pa.int64()), 48)
    return pc.bit_wise_or(shifted, pc.cast(offsets, pa.int64()))


def _stamp_gold(part: FamilyBatch) -> Callable[[Future[bool]], None]:
    def done(_: Future[bool]) -> None:
        part.gold_done = time.monotonic()

    return done


def _merged(before: recovery.Offsets, after: recovery.Offsets) -> recovery.Offsets:
    merged = {topic: dict(ends) for topic, ends in before.items()}
    for topic, ends in after.items():
        for partition, end in ends.items():
            current = merged.setdefault(topic, {}).get(partition, 0)
            merged[topic][partition] = max(current, end)
    return merged


def _json(value: object) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def _now() -> datetime:
    return datetime.now(UTC)
