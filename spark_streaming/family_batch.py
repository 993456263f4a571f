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
from datetime import UTC, datetime

import pyarrow as pa
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from retail_lakehouse import tables
from retail_lakehouse.logs import kv
from retail_lakehouse.settings import Settings
from retail_lakehouse.tables import TableSpec
from spark_streaming.batch_metrics import BatchMetrics
from spark_streaming.event_time_state import EventTimeState, parse_duration
from spark_streaming.family_plans import FamilyPlan
from spark_streaming.lake_writer import BatchTxn, LakeWriter
from spark_streaming.transforms import bronze, dedup, inventory, silver, validation

log = logging.getLogger(__name__)

LINEAGE = ["event_id", "event_time", "produced_at", "kafka_partition", "kafka_offset"]


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
        self.state: EventTimeState | None = None
        self._app_id: str | None = None
        self._bound = threading.Event()
        self._products: DataFrame | None = None
        # read by the demo and `--until-idle` to know when the stream has caught up
        self.input_rows_total = 0
        self.last_batch_monotonic: float | None = None
        # the last batches' metrics, for profiling (spark_streaming/profile_batches.py)
        self.history: deque[BatchMetrics] = deque(maxlen=2_000)

    def bind(self, query_id: str) -> None:
        """Key app transactions by the query's id, which lives in its checkpoint."""
        self._app_id = f"{self.plan.query_name}-{query_id}"
        self._bound.set()

    def __call__(self, batch_df: DataFrame, batch_id: int) -> None:
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
        batch_df = batch_df.persist()
        cached: list[DataFrame] = [batch_df]
        phase = metrics.phase
        try:
            with phase("read"):
                batch_df.count()  # materializes the cache: Kafka is read once per batch
            bronze_rows = bronze.to_bronze(batch_df, metrics.started_at)
            validated = validation.parse_and_validate(bronze_rows, self.plan.family).persist()
            cached.append(validated)
            with phase("validate"):
                self._count_outcomes(validated, metrics)
            with phase("bronze"):
                self.writer.append(self.plan.bronze, bronze_rows, txn)
            if metrics.quarantined_rows:
                with phase("quarantine"):
                    quarantine = validation.quarantine_rows(validated, self.plan.family)
                    self.writer.append(tables.QUARANTINE, quarantine, txn)
            events = silver.valid_events(validated)
            with phase("dedup"):
                flagged, stored_rows = self._deduplicate(events, state, metrics)
            cached.append(flagged)
            with phase("silver"):
                written = self._write_silver(flagged, events, txn)
            with phase("gold"):
                self._write_gold(written, txn)
            metrics.latencies_ms = self._latencies(stored_rows)
            state.advance((r[0], r[1], r[3], r[4]) for r in stored_rows)
            metrics.max_event_time = state.max_event_time
            metrics.committed_at = _now()
            with phase("ops"):
                self.writer.append(tables.STREAM_BATCHES, metrics.to_frame(self.spark), txn)
        finally:
            for frame in cached:
                frame.unpersist()
        self.input_rows_total += metrics.input_rows
        self.history.append(metrics)
        self.last_batch_monotonic = time.monotonic()
        log.info(kv("batch_committed", query=self.plan.query_name, **metrics.as_log_fields()))

    def _count_outcomes(self, validated: DataFrame, metrics: BatchMetrics) -> None:
        for row in validated.groupBy("reason").count().collect():
            metrics.input_rows += row["count"]
            if row["reason"] is not None:
                metrics.quarantine_reasons[row["reason"]] = row["count"]
                metrics.quarantined_rows += row["count"]

    def _deduplicate(
        self, events: DataFrame, state: EventTimeState, metrics: BatchMetrics
    ) -> tuple[DataFrame, list[tuple]]:
        """Drop events stored before (remembered within the watermark, or found in silver
        when older) and flag the ones behind the watermark as late.

        The decision is made on the batch's lineage columns in the driver, so the
        DataFrame only needs a broadcast anti-join on (partition, offset): no shuffle.
        """
        candidates = _rows(events.select(*LINEAGE).toArrow())
        metrics.valid_events = len(candidates)
        metrics.watermark = watermark = state.watermark
        produced_at = {(r[3], r[4]): r[2] for r in candidates}
        keep, duplicates, to_look_up = state.sort_out((r[0], r[1], r[3], r[4]) for r in candidates)
        stored_elsewhere = self._ids_already_in_silver(to_look_up, keep)
        if stored_elsewhere:
            duplicates += [r for r in keep if r[0] in stored_elsewhere]
            keep = [r for r in keep if r[0] not in stored_elsewhere]
        positions = self.spark.createDataFrame(
            [(r[2], r[3]) for r in duplicates], "kafka_partition int, kafka_offset long"
        )
        flagged = dedup.flag_late(dedup.drop_records_at(events, positions), watermark)
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
        for target in self.plan.windowed_gold:
            on_time = silver_rows[target.source].filter(~F.col("is_late"))
            contribution = target.build(
                on_time, self.settings.window_duration, updated_at=updated_at
            )
            self.writer.merge(target.spec, contribution, target.merge, txn)
        if self.plan.keeps_inventory_levels:
            levels = inventory.inventory_levels(
                silver_rows[tables.SILVER_INVENTORY_CHANGES],
                silver_rows[tables.SILVER_INVENTORY_SNAPSHOTS],
                self._frame(tables.INVENTORY_LEVELS, inventory.INVENTORY_LEVELS_SCHEMA),
                self._products_frame(),
                updated_at,
            )
            self.writer.merge(
                tables.INVENTORY_LEVELS, levels, inventory.INVENTORY_LEVELS_MERGE, txn
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
        if self.state is None:
            self.state = EventTimeState(self.delay)
            specs = [spec for spec, _ in self.plan.silver]
            latest = [
                t
                for spec in specs
                for t in _column(self.writer.read_arrow(spec, ["event_time"]), "event_time")
                if t is not None
            ]
            self.state.max_event_time = max(latest, default=None)
            watermark = self.state.watermark
            if watermark is not None:
                where = f"event_time >= '{watermark.isoformat()}'"
                for spec in specs:
                    seen = self.writer.read_arrow(
                        spec, ["event_id", "event_time", "kafka_partition", "kafka_offset"], where
                    )
                    if seen is not None:
                        self.state.advance(_rows(seen))
            log.info(
                kv(
                    "state_recovered",
                    query=self.plan.query_name,
                    watermark=watermark,
                    remembered_ids=len(self.state.seen),
                )
            )
        return self.state

    def _ids_already_in_silver(
        self, event_ids: set[str], lineage: list[tuple[str, datetime, int, int]]
    ) -> set[str]:
        """Late events fell out of memory: ask silver whether they were stored elsewhere."""
        if not event_ids:
            return set()
        own = {(r[0], r[2], r[3]) for r in lineage}
        quoted = ", ".join("'" + i.replace("'", "''") + "'" for i in sorted(event_ids))
        found: set[str] = set()
        for spec, _ in self.plan.silver:
            hits = self.writer.read_arrow(
                spec, ["event_id", "kafka_partition", "kafka_offset"], f"event_id IN ({quoted})"
            )
            if hits is not None:
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

    def _frame(self, spec: TableSpec, schema: str) -> DataFrame:
        table = self.writer.read_arrow(spec)
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


def _column(table: pa.Table | None, name: str) -> list:
    return [] if table is None else table.column(name).to_pylist()


def _rows(table: pa.Table) -> list[tuple]:
    columns = [table.column(i).to_pylist() for i in range(table.num_columns)]
    return list(zip(*columns, strict=True))


def _now() -> datetime:
    return datetime.now(UTC)
