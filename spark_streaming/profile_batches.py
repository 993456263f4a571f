"""Profile the streaming core on the embedded stack: where a micro-batch's time goes.

    .venv/bin/python -m spark_streaming.profile_batches --events 60000 --rate 1000
    .venv/bin/python -m spark_streaming.profile_batches --events 300000 --rate 0   # catch-up

Starts a Kafka-protocol broker, the three family streams on a temporary lake, and the
producer (default fault mix); waits until every record is read, then prints one JSON
summary: produce-to-gold latency (from ops.stream_batches, first data batch of each
query left out as warm-up), per-phase medians, Spark jobs per batch, throughput and peak
memory of this process tree (driver JVM, Python workers, broker). With `--rate 0` the
backlog is produced first and the streams then catch up on it.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from retail_lakehouse import logs, tables
from retail_lakehouse.settings import Settings


def _tree_rss_bytes(root: int) -> int:
    """Resident memory of `root` and every descendant, from /proc (Linux only)."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid, ppid = int(entry), int(fields[1])
        children.setdefault(ppid, []).append(pid)
        rss[pid] = int(fields[21]) * os.sysconf("SC_PAGE_SIZE")
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        total += rss.get(pid, 0)
        todo.extend(children.get(pid, []))
    return total


class PeakMemory(threading.Thread):
    def __init__(self) -> None:
        super().__init__(daemon=True, name="peak-memory")
        self.peak = 0
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.wait(0.5):
            self.peak = max(self.peak, _tree_rss_bytes(os.getpid()))

    def stop(self) -> None:
        self._halt.set()


def _total_jobs(spark: Any) -> int:
    return int(spark.sparkContext._jsc.sc().dagScheduler().numTotalJobs())


def profile(events: int, rate: float, families: list[str], trigger: str | None) -> dict[str, Any]:
    from mock.kafka_broker import LocalKafka
    from producer.faults import FaultConfig
    from producer.run import run_producer
    from producer.topics import ensure_topics
    from spark_streaming.delta_rs_writer import DeltaRsWriter
    from spark_streaming.session import build_session
    from spark_streaming.streams import start_streams, stop_streams

    memory = PeakMemory()
    memory.start()
    with tempfile.TemporaryDirectory(prefix="profile-lake-") as tmp, LocalKafka() as broker:
        settings = Settings(
            kafka_bootstrap_servers=broker.bootstrap_servers,
            lake_root=str(Path(tmp) / "lake"),
            _env_file=None,
        )
        if trigger:
            settings = settings.model_copy(update={"trigger_interval": trigger})
        ensure_topics(settings)

        def produce() -> Any:
            return run_producer(
                settings,
                events=events,
                rate=rate or None,
                seed=7,
                faults=FaultConfig.demo_defaults(),
                clock="realtime",
            )

        report: dict[str, Any] = {}
        producer = threading.Thread(target=lambda: report.update(r=produce()), daemon=True)
        if not rate:
            producer.start()
            producer.join()
        spark = build_session(settings, app_name="profile-batches")
        jobs_before = _total_jobs(spark)
        started = time.monotonic()
        running = start_streams(spark, settings, families)
        if rate:
            producer.start()
        try:
            producer.join()
            delivered = report["r"].delivered_by_topic
            expected = {
                s.family: delivered.get(settings.topic(s.processor.plan.family), 0) for s in running
            }
            while any(s.processor.input_rows_total < expected[s.family] for s in running):
                for s in running:
                    if not s.query.isActive:
                        raise RuntimeError(f"{s.family} stopped: {s.query.exception()}")
                time.sleep(0.2)
            wall_s = time.monotonic() - started
        finally:
            stop_streams(running)
        jobs = _total_jobs(spark) - jobs_before
        history = [m for s in running for m in getattr(s.processor, "history", [])]
        spark.stop()
        batches = DeltaRsWriter(settings).read_arrow(tables.STREAM_BATCHES)
    memory.stop()
    return _summarize(batches.to_pylist() if batches else [], history, jobs, wall_s, memory.peak)


def _summarize(
    rows: list[dict[str, Any]], history: list[Any], jobs: int, wall_s: float, peak: int
) -> dict[str, Any]:
    from spark_streaming.batch_metrics import percentile, split_warmup

    warmup, steady = split_warmup(rows)
    first = {r["query_name"]: r["batch_id"] for r in warmup}
    samples = [v for r in steady for v in r["latency_sample_ms"]]
    phases: dict[str, list[int]] = {}
    for m in history:
        if m.input_rows and m.batch_id > first.get(m.query_name, -1):
            for k, v in m.phase_ms.items():
                phases.setdefault(k, []).append(v)
    durations = [r["duration_ms"] for r in steady if r["input_rows"]]
    rows_in = sum(r["input_rows"] for r in rows)
    return {
        "input_rows": rows_in,
        "batches": len(rows),
        "wall_s": round(wall_s, 1),
        "events_per_s_wall": round(rows_in / wall_s),
        "spark_jobs_per_batch": round(jobs / max(1, len(rows)), 1),
        "latency_p50_ms": percentile(samples, 50),
        "latency_p95_ms": percentile(samples, 95),
        "latency_p99_ms": percentile(samples, 99),
        "batch_ms_median": statistics.median(durations) if durations else None,
        "batch_ms_max": max(durations, default=None),
        "phase_ms_median": {k: statistics.median(v) for k, v in phases.items()},
        "peak_rss_mb": round(peak / 2**20),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=60_000)
    parser.add_argument("--rate", type=float, default=1_000.0, help="0 = backlog first")
    parser.add_argument("--families", default="sales,clickstream,inventory")
    parser.add_argument("--trigger", default=None, help="default: TRIGGER_INTERVAL")
    parser.add_argument("--label", default="")
    args = parser.parse_args()
    logs.configure()
    result = profile(args.events, args.rate, args.families.split(","), args.trigger)
    result = {"label": args.label, "events": args.events, "rate": args.rate, **result}
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
