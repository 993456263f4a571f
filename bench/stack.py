"""The bench's stack: one local Apache Kafka broker and one SparkSession for the whole
run; every scenario gets fresh topics, a fresh lake and fresh checkpoints under
`work_dir`, so none sees another's data."""

from __future__ import annotations

import logging
import statistics
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench.latency import table_dir
from bench.sizes import BenchSize
from retail_lakehouse import tables
from retail_lakehouse.contracts import FAMILIES
from retail_lakehouse.logs import kv
from retail_lakehouse.settings import Settings

log = logging.getLogger("bench")


class Bench:
    def __init__(self, size: BenchSize, work_dir: Path) -> None:
        self.size = size
        self.work_dir = work_dir
        self.broker: Any = None
        self._spark: Any = None

    @contextmanager
    def running(self) -> Iterator[Bench]:
        from mock.kafka_broker import LocalKafka

        with LocalKafka(
            data_dir=self.work_dir / "kafka", log_path=self.work_dir / "broker.log"
        ) as broker:
            self.broker = broker
            try:
                yield self
            finally:
                # Spark first, or its cached Kafka consumers keep reconnecting
                if self._spark is not None:
                    self._spark.stop()
                    self._spark = None

    @property
    def spark(self) -> Any:
        """The SparkSession, started on first use (the producer needs none)."""
        from spark_streaming.session import build_session

        if self._spark is None:
            self._spark = build_session(self.settings("session"), app_name="retail-lakehouse-bench")
        return self._spark

    def settings(self, run: str, topics: str | None = None, **overrides: Any) -> Settings:
        """A scenario's settings: its own lake and checkpoints under `run`, topics
        `bench.<topics or run>.<family>` (scenarios reading one backlog share them)."""
        tag = topics or run
        values: dict[str, Any] = {
            "kafka_bootstrap_servers": self.broker.bootstrap_servers,
            "lake_root": str(self.work_dir / run / "lake"),
            "checkpoint_root": str(self.work_dir / run / "checkpoints"),
            "topic_sales": f"bench.{tag}.sales",
            "topic_clickstream": f"bench.{tag}.clickstream",
            "topic_inventory": f"bench.{tag}.inventory",
            "starting_offsets": "earliest",
        }
        values.update(overrides)
        return Settings(**values)

    def produce(self, settings: Settings, **kwargs: Any) -> Any:
        """`run_producer` with the demo's fault mix on the real-time clock; raises when
        a record was not delivered (a figure built on lost records would be wrong)."""
        from producer.faults import FaultConfig
        from producer.run import run_producer

        report = run_producer(
            settings, faults=FaultConfig.demo_defaults(), clock="realtime", **kwargs
        )
        if report.failed or report.undelivered:
            raise RuntimeError(f"producer lost records: {report.to_dict()}")
        return report


def delivered_by_family(settings: Settings, by_topic: dict[str, int]) -> dict[str, int]:
    """A producer report's delivered counts, per family instead of per topic."""
    return {f.name: by_topic.get(settings.topic(f), 0) for f in FAMILIES}


def topic_partitions(settings: Settings) -> dict[str, int]:
    return {settings.topic(f): settings.topic_partitions for f in FAMILIES}


def copy_reference_tables(source: Settings, target: Settings) -> None:
    """The stores and products the producer wrote, into another scenario's lake."""
    from deltalake import DeltaTable, write_deltalake

    for spec in (tables.STORES, tables.PRODUCTS):
        data = DeltaTable(str(table_dir(source.resolved_lake_root, spec))).to_pyarrow_table()
        write_deltalake(str(table_dir(target.resolved_lake_root, spec)), data)


def stat(values: list[float]) -> dict[str, float | int | None]:
    """Median with min and max over the runs of one figure."""
    if not values:
        return {"median": None, "min": None, "max": None, "runs": 0}
    return {
        "median": round(statistics.median(values), 1),
        "min": round(min(values), 1),
        "max": round(max(values), 1),
        "runs": len(values),
    }


def short_id() -> str:
    return uuid.uuid4().hex[:6]


def progress(step: str, **fields: object) -> None:
    log.info(kv("bench_progress", step=step, **fields))
