"""The foreachBatch function: one read of a topic per trigger feeds every table.

Per micro-batch: bronze (as received) -> parse and validate -> quarantine (with
reasons) -> de-duplicate within the watermark and flag late events -> silver ->
event-time windows merged into gold. Each table commit carries a Delta app
transaction (query id, batch id), so a batch replayed after a crash is skipped
table by table and nothing is lost or doubled. The batch's own row in
ops.stream_batches is written last and marks the whole batch as done.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import replace
from datetime import UTC, datetime
from typing import cast

import pyarrow as pa
import pyarrow.compute as pc
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from retail_lakehouse import tables
from retail_lakehouse.logs import kv
from retail_lakehouse.settings import Settings
from retail_lakehouse.tables import TableSpec
from spark_streaming.batch_metrics import BatchMetrics
from spark_streaming.event_time_state import (
    EventTimeState,
    Lineage,
    first_copies,
    parse_duration,
    time_ranges,
)
from spark_streaming.family_plans import FamilyPlan
from spark_streaming.lake_writer import BatchTxn, CollectedRows, LakeWriter, writes_from_driver
from spark_streaming.maintenance import PeriodicMaintenance
from spark_streaming.session import batch_partitions, launched_by_spark_submit
from spark_streaming.transforms import bronze, dedup, inventory, silver, validation

log = logging.getLogger(__name__)


class FamilyBatchProcessor:
    """Callable passed to `foreachBatch`; holds the family's event-time state."""

    def __init__(
        self, plan: FamilyPlan, settings: Settings, writer: LakeWriter, spark: SparkSession
    ) -> None:
        self.plan = plan
        self.settings = settings
        self.writer = writer
        self.spark = spark
        self.delay = parse_duration(settings.watermark_delay)
        self.partitions = batch_partitions(settings, local=not launched_by_spark_submit())
        self.from_driver = writes_from_driver(writer)
        self.state: EventTimeState | None = None
        self._app_id: str | None = None
        self._bound = threading.Event()
        self._products: DataFrame | None = None
        # independent tables commit side by side (bronze and quarantine next to silver,
        # the gold tables together): each commit mostly waits on its own Spark job or
        # on delta-rs, so two cores keep busy
        self.maintenance = PeriodicMaintenance(
            writer, plan.own_tables, settings.maintain_every_batches
        )
        self._pool = ThreadPoolExecutor(
            max_workers=3, thread_name_prefix=f"{plan.family.name}-gold"
        )
        # read by the demo and `--until-idle` to know when the stream has caught up
        self.input_rows_total = 0
        self.last_batch_monotonic: float | None = None
        self.in_batch = False  # a long batch is work in progress, not idleness
        # the last batches' metrics, for profiling (spark_streaming/profile_batches.py)
        self.history: deque[BatchMetrics] = deque(maxlen=1_000)

    def bind(self, query_id: str) -> None:
        """Key app transactions by the query's id, which lives in its checkpoint."""
        self._app_id = f"{self.plan.query_name}-{query_id}"
        self._bound.set()

    def __call__(self, batch_df: DataFrame, batch_id: int) -> None:
        self.in_batch = True
        try:
            self._process(batch_df, batch_id)
        finally:
            self.in_batch = False

    def _process(self, batch_df: DataFrame, batch_id: int) -> None:
        if not self._bound.wait(timeout=120) or self._app_id is None:
            raise RuntimeError("batch processor was never bound to its streaming query")
        txn = BatchTxn(self._app_id, batch_id)
        if self.writer.is_committed(tables.STREAM_BATCHES, txn):
            log.info(kv("batch_already_committed", query=self.plan.query_name, batch=batch_id))
            self.last_batch_monotonic = time.monotonic()
            return
        metrics = BatchMetrics(
            self.plan.query_name, self.plan.family.name, batch_id, started_at=_now()
        )
        state = self._recovered_state()
        if self.partitions:
            batch_df = batch_df.coalesce(self.partitions)
        batch_df = batch_df.persist()
        cached: list[DataFrame] = [batch_df]
        side_writes: list[Future[bool]] = []
        phase = metrics.phase
        try:
            bronze_rows = bronze.to_bronze(batch_df, metrics.started_at)
            validated = validation.parse_and_validate(bronze_rows, self.plan.family).persist()
            cached.append(validated)
            with phase("read_validate"):
                # one job reads the source once, fills both caches and brings back what
                # the driver decides on (and bronze itself when it is written from here)
                bronze_columns = bronze_rows.columns if self.from_driver else []
                collected = silver.outcomes(validated, bronze_columns).toArrow()
                lineage = self._count_outcomes(collected, metrics)
            # bronze and quarantine depend on nothing downstream: they commit while the
            # batch goes on to silver and gold (each table is exactly-once on its own)
            bronze_out: DataFrame | CollectedRows = bronze_rows
            if self.from_driver:
                bronze_out = CollectedRows(collected.select(bronze_columns), lambda: bronze_rows)
            side_writes.append(
                self._pool.submit(self.writer.append, self.plan.bronze, bronze_out, txn)
            )
            if metrics.quarantined_rows:
                quarantine = validation.quarantine_rows(validated, self.plan.family)
                side_writes.append(
                    self._pool.submit(self.writer.append, tables.QUARANTINE, quarantine, txn)
                )
            events = silver.valid_events(validated)
            with phase("dedup"):
                flagged, stored_rows = self._deduplicate(events, lineage, state, metrics)
            cached.append(flagged)
            with phase("silver"):
                written = self._write_silver(flagged, events, txn)
            with phase("gold"):
                self._write_gold(written, txn)
            with phase("bronze_wait"):
                for future in side_writes:
                    future.result()
            metrics.latencies_ms = self._latencies(stored_rows)
            state.advance(r[1] for r in stored_rows)
            metrics.max_event_time = state.max_event_time
            metrics.committed_at = _now()
            with phase("ops"):
                self.writer.append(tables.STREAM_BATCHES, metrics.to_rows(self.spark), txn)
        finally:
            wait(side_writes)  # never unpersist what a side write still reads
            for frame in cached:
                frame.unpersist()
        self.maintenance.after_batch(batch_id)
        self.input_rows_total += metrics.input_rows
        self.history.append(replace(metrics, latencies_ms=[]))  # keep it small
        self.last_batch_monotonic = time.monotonic()
        log.info(kv("batch_committed", query=self.plan.query_name, **metrics.as_log_fields()))

    def _count_outcomes(self, collected: pa.Table, metrics: BatchMetrics) -> list[tuple]:
        """Counts the batch's records by outcome; returns the valid ones' lineage."""
        metrics.input_rows = collected.num_rows
        reasons = collected.column("reason")
        for entry in pc.value_counts(pc.drop_null(reasons)).to_pylist():
            metrics.quarantine_reasons[entry["values"]] = entry["counts"]
            metrics.quarantined_rows += entry["counts"]
        return _rows(collected.filter(pc.is_null(reasons)).select(silver.LINEAGE))

    def _deduplicate(
        self,
        events: DataFrame,
        candidates: list[tuple],
        state: EventTimeState,
        metrics: BatchMetrics,
    ) -> tuple[DataFrame, list[tuple]]:
        """Drop the later copies of an event (within the batch, or stored by an earlier
        batch) and flag the events behind the watermark as late.

        The decision is made on the batch's lineage in the driver (`candidates`, a tuple
        of silver.LINEAGE per valid event), so the DataFrame only needs a broadcast
        anti-join on (partition, offset), and only when there is a duplicate.
        """
        metrics.valid_events = len(candidates)
        metrics.watermark = watermark = state.watermark
        produced_at = {(r[3], r[4]): r[2] for r in candidates}
        keep, duplicates = first_copies((r[0], r[1], r[3], r[4]) for r in candidates)
        stored_before = self._stored_at_other_offsets(keep)
        if stored_before:
            duplicates += [r for r in keep if r[0] in stored_before]
            keep = [r for r in keep if r[0] not in stored_before]
        if duplicates:
            positions = self.spark.createDataFrame(
                [(r[2], r[3]) for r in duplicates], "kafka_partition int, kafka_offset long"
            )
            events = dedup.drop_records_at(events, positions)
        flagged = dedup.flag_late(events, watermark)
        stored_rows = [
            (
                event_id,
                event_time,
                produced_at[(p, o)],
                p,
                o,
                bool(watermark and event_time < watermark),
            )
            for event_id, event_time, p, o in keep
        ]
        metrics.stored_events = len(stored_rows)
        metrics.duplicate_events = len(duplicates)
        metrics.late_events = sum(1 for r in stored_rows if r[5])
        return flagged.persist(), stored_rows

    def _write_silver(
        self, flagged: DataFrame, events: DataFrame, txn: BatchTxn
    ) -> dict[TableSpec, DataFrame]:
        written: dict[TableSpec, DataFrame] = {}
        for spec, build in self.plan.silver:
            rows = build(flagged)
            if self.writer.is_committed(spec, txn):
                # replayed after a crash between this table's commit and the batch's end
                rows = self._read_back(spec, events, rows)
            else:
                self.writer.append(spec, rows, txn)
            written[spec] = rows
        return written

    def _write_gold(self, silver_rows: dict[TableSpec, DataFrame], txn: BatchTxn) -> None:
        updated_at = _now()
        merges = []
        for target in self.plan.windowed_gold:
            on_time = silver_rows[target.source].filter(~F.col("is_late"))
            contribution = target.build(
                on_time, self.settings.window_duration, updated_at=updated_at
            )
            merges.append((target.spec, contribution, target.merge))
        if self.plan.keeps_inventory_levels:
            levels = self._inventory_levels(silver_rows, updated_at)
            if levels is not None:
                merges.append((tables.INVENTORY_LEVELS, levels, inventory.INVENTORY_LEVELS_MERGE))
        futures = [
            self._pool.submit(self.writer.merge, spec, frame, merge, txn)
            for spec, frame, merge in merges
        ]
        for future in futures:
            future.result()  # re-raises a failed merge; the batch is then replayed

    def _inventory_levels(
        self, silver_rows: dict[TableSpec, DataFrame], updated_at: datetime
    ) -> DataFrame | None:
        """The batch's inventory_levels rows, reading only what the batch touches: the
        stored levels of its (store, product) keys and, when it brings counts, the
        stored changes of those keys made after its earliest count."""
        changes = silver_rows[tables.SILVER_INVENTORY_CHANGES]
        snapshots = silver_rows[tables.SILVER_INVENTORY_SNAPSHOTS]
        keys = inventory.KEYS
        touched = (
            changes.select(*keys, F.lit(None).cast("timestamp").alias("counted_at"))
            .unionByName(snapshots.select(*keys, F.col("event_time").alias("counted_at")))
            .groupBy(*keys)
            .agg(F.min("counted_at").alias("counted_at"))
            .select(*keys, F.date_format("counted_at", "yyyy-MM-dd HH:mm:ss.SSSSSS").alias("at"))
            .collect()
        )
        if not touched:
            return None
        stores = ", ".join(str(v) for v in sorted({r["store_id"] for r in touched}))
        products = ", ".join(str(v) for v in sorted({r["product_id"] for r in touched}))
        # a superset of the touched pairs; the transform's joins keep the exact ones
        of_touched = f"store_id IN ({stores}) AND product_id IN ({products})"
        current = self._frame(
            tables.INVENTORY_LEVELS, inventory.INVENTORY_LEVELS_SCHEMA, of_touched
        )
        counted = [r["at"] for r in touched if r["at"] is not None]
        recent = None
        if counted:
            since = min(counted)
            recent = self._frame(
                tables.SILVER_INVENTORY_CHANGES,
                "store_id int, product_id long, event_time timestamp, quantity int",
                f"{of_touched} AND event_time > '{since}' AND event_date >= '{since[:10]}'",
                [*keys, "event_time", "quantity"],
            )
        return inventory.inventory_levels(
            changes, snapshots, current, self._products_frame(), updated_at, recent
        )

    def _latencies(self, stored_rows: list[tuple]) -> list[float]:
        """Produce time to the moment the event's gold rows were committed."""
        gold_at = _now()
        stock_is_not_windowed = self.plan.keeps_inventory_levels
        return [
            (gold_at - produced_at).total_seconds() * 1000
            for (_, _, produced_at, _, _, is_late) in stored_rows
            if produced_at is not None and (stock_is_not_windowed or not is_late)
        ]

    def _recovered_state(self) -> EventTimeState:
        """The watermark from the silver tables' file statistics: no data file is read,
        so a restart costs the same however large the lake has grown."""
        if self.state is None:
            self.state = EventTimeState(self.delay)
            # event_time columns: their maxima are datetimes (None for an empty table)
            latest = [
                cast(datetime | None, self.writer.max_value(spec, "event_time"))
                for spec, _ in self.plan.silver
            ]
            self.state.advance(t for t in latest if t is not None)
            log.info(
                kv("state_recovered", query=self.plan.query_name, watermark=self.state.watermark)
            )
        return self.state

    def _stored_at_other_offsets(self, batch: list[Lineage]) -> set[str]:
        """The batch's event ids that silver already holds from another Kafka record.

        A resent event carries its original event_time, so the look-up is bounded by
        the batch's event times: file statistics and event_date partitions leave only
        the files of those minutes to read. The same id at the same offset is this very
        record, replayed after a crash, and is not a duplicate.
        """
        if not batch:
            return set()
        ranges = time_ranges((r[1] for r in batch), self.delay)
        in_time = " OR ".join(
            f"(event_time >= '{low.isoformat()}' AND event_time <= '{high.isoformat()}'"
            f" AND event_date >= '{low.date().isoformat()}'"
            f" AND event_date <= '{high.date().isoformat()}')"
            for low, high in ranges
        )
        ids = pa.array([r[0] for r in batch], pa.string())
        own = {(r[0], r[2], r[3]) for r in batch}
        found: set[str] = set()
        for spec, _ in self.plan.silver:
            # the rows of those minutes, matched here: an IN list of thousands of ids
            # costs DataFusion more to plan than the pruned read costs to scan
            stored = self.writer.read_arrow(
                spec, ["event_id", "kafka_partition", "kafka_offset"], in_time
            )
            if stored is None or stored.num_rows == 0:
                continue
            hits = stored.filter(pc.is_in(stored["event_id"], value_set=ids))
            found |= {
                r["event_id"]
                for r in hits.to_pylist()
                if (r["event_id"], r["kafka_partition"], r["kafka_offset"]) not in own
            }
        return found

    def _read_back(self, spec: TableSpec, events: DataFrame, built: DataFrame) -> DataFrame:
        """The rows this batch already committed to `spec`, found by their Kafka offsets."""
        ranges = events.groupBy("kafka_partition").agg(
            F.min("kafka_offset").alias("low"), F.max("kafka_offset").alias("high")
        )
        where = " OR ".join(
            f"(kafka_partition = {r['kafka_partition']} "
            f"AND kafka_offset BETWEEN {r['low']} AND {r['high']})"
            for r in ranges.collect()
        )
        table = self.writer.read_arrow(spec, None, where) if where else None
        if table is None or table.num_rows == 0:
            return self.spark.createDataFrame([], built.schema)
        return self.spark.createDataFrame(table).select(*built.columns)

    def _frame(
        self,
        spec: TableSpec,
        schema: str,
        where: str | None = None,
        columns: list[str] | None = None,
    ) -> DataFrame:
        table = self.writer.read_arrow(spec, columns, where)
        if table is None or table.num_rows == 0:
            return self.spark.createDataFrame([], schema)
        return self.spark.createDataFrame(table)

    def _products_frame(self) -> DataFrame:
        if self._products is None:
            table = self.writer.read_arrow(tables.PRODUCTS, ["product_id", "safety_stock"])
            if table is None:
                log.warning(kv("reference_products_missing", effect="safety stock unknown"))
                return self.spark.createDataFrame([], "product_id long, safety_stock int")
            self._products = self.spark.createDataFrame(table).cache()
        return self._products


def _rows(table: pa.Table) -> list[tuple]:
    columns = [table.column(i).to_pylist() for i in range(table.num_columns)]
    return list(zip(*columns, strict=True))


def _now() -> datetime:
    return datetime.now(UTC)
