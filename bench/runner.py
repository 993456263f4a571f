"""The benchmark scenarios, driven through the public entry points only: the producer
(`run_producer`), the streams (`start_streams` / `stop_streams` with a LakeWriter) and
the Delta tables they write. Nothing here depends on how a micro-batch is processed.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import statistics
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from deltalake import DeltaTable

from bench import latency
from bench.ceiling import bare_consumer_to_delta
from bench.job_view import (
    BatchLogCapture,
    durations_ms,
    files_per_table,
    job_latency,
    phase_totals,
    stream_batches,
)
from bench.resources import ResourceSampler
from bench.sizes import BenchSize
from retail_lakehouse import tables
from retail_lakehouse.contracts import FAMILIES
from retail_lakehouse.logs import kv
from retail_lakehouse.settings import Settings

log = logging.getLogger("bench")

# catch-up modes: which layers the streams commit (the others are skipped by the writer)
MODES: dict[str, tuple[str, ...]] = {
    "bronze": ("silver", "gold"),
    "bronze+silver": ("gold",),
    "full": (),
}
_BRONZE_BY_FAMILY = {
    "sales": tables.BRONZE_SALES,
    "clickstream": tables.BRONZE_CLICKSTREAM,
    "inventory": tables.BRONZE_INVENTORY,
}


def stat(values: list[float]) -> dict[str, float | None]:
    """Median with min and max over the runs of one figure."""
    if not values:
        return {"median": None, "min": None, "max": None, "runs": 0}
    return {
        "median": round(statistics.median(values), 1),
        "min": round(min(values), 1),
        "max": round(max(values), 1),
        "runs": len(values),
    }


class LayerFilter:
    """A LakeWriter that commits every table except those of the skipped layers. Skipped
    writes return False (nothing committed) without touching their DataFrame, so Spark
    never computes them: the run costs what the kept layers cost."""

    _WRITES = ("append", "merge", "append_arrow", "merge_arrow", "write", "overwrite")

    def __init__(self, inner: Any, skip_layers: tuple[str, ...]) -> None:
        self._inner = inner
        self._skip = skip_layers

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._inner, name)
        if name not in self._WRITES or not self._skip:
            return attr

        def write(*args: Any, **kwargs: Any) -> Any:
            spec = args[0] if args else kwargs.get("spec")
            if isinstance(spec, tables.TableSpec) and spec.layer in self._skip:
                return False
            return attr(*args, **kwargs)

        return write


class Bench:
    """One broker and one SparkSession for the whole run; every scenario gets fresh
    topics, a fresh lake and fresh checkpoints under `work_dir`."""

    def __init__(self, size: BenchSize, work_dir: Path) -> None:
        self.size = size
        self.work_dir = work_dir
        self.broker: Any = None
        self._spark: Any = None

    @contextmanager
    def running(self) -> Iterator[Bench]:
        from mock.kafka_broker import LocalKafka

        # on a shared, loaded machine Python workers can take longer than the default
        # 15 s to connect back to the JVM; a bench run must not die of that
        os.environ.setdefault(
            "PYSPARK_SUBMIT_ARGS",
            "--conf spark.python.authenticate.socketTimeout=120s pyspark-shell",
        )
        with LocalKafka(log_path=self.work_dir / "broker.log") as broker:
            self.broker = broker
            try:
                yield self
            finally:
                if self._spark is not None:
                    self._spark.stop()

    @property
    def spark(self) -> Any:
        """The SparkSession, started on first use (the producer needs none)."""
        from spark_streaming.session import build_session

        if self._spark is None:
            self._spark = build_session(self.settings("session"), app_name="retail-lakehouse-bench")
        return self._spark

    def settings(self, run: str, topics: str | None = None, **overrides: Any) -> Settings:
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

    # -- producer ---------------------------------------------------------------------

    def producer(self, events: int) -> dict[str, Any]:
        from producer.faults import FaultConfig
        from producer.run import run_producer

        rates = []
        for repeat in range(self.size.repeats):
            settings = self.settings(f"producer-{events}-{repeat}-{_short_id()}")
            report = run_producer(
                settings,
                events=events,
                rate=0.0,
                faults=FaultConfig.demo_defaults(),
                clock="realtime",
                write_reference=False,
            )
            if report.failed or report.undelivered:
                raise RuntimeError(f"producer lost records: {report.to_dict()}")
            rates.append(report.delivered / report.elapsed_s)
            _progress("producer", events=events, repeat=repeat, events_per_s=rates[-1])
        return {"events": events, "events_per_s": stat(rates), "runs": rates}

    # -- ceiling alone ------------------------------------------------------------------

    def ceiling(self, events: int) -> dict[str, Any]:
        """The bare consumer on its own backlog (no Spark): the machine's ceiling, for a
        run that skips catch-up (catch-up measures it on the same backlog as the streams)."""
        from producer.faults import FaultConfig
        from producer.run import run_producer

        runs = []
        for repeat in range(self.size.repeats):
            topics = f"ceiling-{events}-{repeat}-{_short_id()}"
            producing = self.settings(topics)
            report = run_producer(
                producing,
                events=events,
                rate=0.0,
                faults=FaultConfig.demo_defaults(),
                clock="realtime",
                write_reference=False,
            )
            runs.append(
                bare_consumer_to_delta(
                    producing.kafka_client_config(),
                    {producing.topic(f): producing.topic_partitions for f in FAMILIES},
                    report.delivered,
                    str(self.work_dir / topics / "ceiling"),
                )
            )
            _progress(
                "ceiling", events=events, repeat=repeat, events_per_s=runs[-1]["events_per_s"]
            )
        return {
            "events": runs[0]["events"] if runs else events,
            "events_per_s": stat([r["events_per_s"] for r in runs]),
            "runs": runs,
        }

    # -- catch-up ---------------------------------------------------------------------

    def catch_up(self, events: int) -> dict[str, Any]:
        """Per repeat: one backlog, read by each mode from earliest into its own lake,
        then by the bare consumer (the ceiling), all on the same topics."""
        from producer.faults import FaultConfig
        from producer.run import run_producer

        per_mode: dict[str, list[dict]] = {mode: [] for mode in MODES}
        ceilings: list[dict] = []
        for repeat in range(self.size.spark_repeats):
            topics = f"backlog-{events}-{repeat}-{_short_id()}"
            producing = self.settings(topics)
            report = run_producer(
                producing,
                events=events,
                rate=0.0,
                faults=FaultConfig.demo_defaults(),
                clock="realtime",
            )
            for mode, skip in MODES.items():
                drain = functools.partial(
                    self._drain_mode, topics, producing, report.delivered_by_topic, mode, skip
                )
                per_mode[mode].append(_retrying(drain, f"catch_up {mode}"))
                _progress(
                    "catch_up",
                    events=events,
                    repeat=repeat,
                    mode=mode,
                    events_per_s=per_mode[mode][-1]["events_per_s"],
                )
            ceiling = bare_consumer_to_delta(
                producing.kafka_client_config(),
                {producing.topic(f): producing.topic_partitions for f in FAMILIES},
                report.delivered,
                str(self.work_dir / topics / "ceiling"),
            )
            ceilings.append(ceiling)
            _progress("ceiling", events=events, repeat=repeat, events_per_s=ceiling["events_per_s"])
        out: dict[str, Any] = {"events": events, "modes": {}}
        for mode, runs in per_mode.items():
            out["modes"][mode] = {
                "events_per_s": stat([r["events_per_s"] for r in runs]),
                "events_per_s_after_first_batch": stat(
                    [
                        r["events_per_s_after_first_batch"]
                        for r in runs
                        if r["events_per_s_after_first_batch"]
                    ]
                ),
                "runs": runs,
            }
        ceiling_rates = [c["events_per_s"] for c in ceilings]
        out["ceiling"] = {"events_per_s": stat(ceiling_rates), "runs": ceilings}
        best = statistics.median(ceiling_rates) if ceiling_rates else 0
        out["ratio_to_ceiling"] = {
            mode: round(v["events_per_s"]["median"] / best, 4) if best else None
            for mode, v in out["modes"].items()
        }
        return out

    def _drain_mode(
        self,
        topics: str,
        producing: Settings,
        delivered: dict[str, int],
        mode: str,
        skip: tuple[str, ...],
        attempt: int,
    ) -> dict:
        run = self.settings(
            f"{topics}-{mode}-{attempt}",
            topics=topics,
            max_offsets_per_trigger=self.size.max_offsets_per_trigger,
        )
        _copy_reference_tables(producing, run)
        return self._drain(run, delivered, skip)

    def _drain(self, settings: Settings, delivered: dict[str, int], skip: tuple[str, ...]) -> dict:
        from spark_streaming.lake_writer import make_lake_writer
        from spark_streaming.streams import stop_streams

        expected = _delivered_by_family(settings, delivered)
        total = sum(expected.values())
        sampler = ResourceSampler().start()
        with BatchLogCapture() as captured:
            started = time.monotonic()
            writer = LayerFilter(make_lake_writer(self.spark, settings), skip)
            running = _start_one_by_one(self.spark, settings, writer)
            try:
                first_batch_at = _wait_caught_up(
                    settings, expected, timeout_s=max(600, total / 50), running=running
                )
            finally:
                stop_streams(running)
            wall = time.monotonic() - started
        resources = sampler.stop()
        batches = captured.batches
        first_rows = _first_batch_rows(batches)
        after_first = wall - (first_batch_at - started) if first_batch_at else None
        return {
            "events": total,
            "wall_s": round(wall, 2),
            "events_per_s": round(total / wall, 1),
            "events_per_s_after_first_batch": (
                round((total - first_rows) / after_first, 1)
                if after_first and after_first > 0 and total > first_rows
                else None
            ),
            "batches": len(batches),
            "batch_durations_ms": durations_ms(batches),
            "phases_ms": phase_totals(batches),
            "resources": resources,
        }

    # -- steady state -------------------------------------------------------------------

    def steady_state(
        self, rate: float, duration_s: float, buckets: int = 6, source: str = "broker"
    ) -> dict[str, Any]:
        """Produce at `rate` for `duration_s` into running streams, then measure from the
        Delta logs (outside) and ops.stream_batches (the job's own view).

        `source` "broker": the producer into the embedded broker, as `make demo` runs.
        "generated": the seeded producer inside Spark (KAFKA_SOURCE=generated), for runs
        longer than the embedded broker keeps up with (README, Performance)."""
        run = self._steady_state if source == "broker" else self._steady_state_generated
        return _retrying(lambda attempt: run(rate, duration_s, buckets), f"steady {rate}")

    def _steady_state(self, rate: float, duration_s: float, buckets: int) -> dict[str, Any]:
        from producer.faults import FaultConfig
        from producer.run import run_producer
        from spark_streaming.streams import stop_streams

        settings = self.settings(f"steady-{int(rate)}-{int(duration_s)}-{_short_id()}")
        from producer.topics import ensure_topics

        ensure_topics(settings)
        sampler = ResourceSampler().start()
        outcome: dict[str, Any] = {}
        with BatchLogCapture() as captured:
            running = _start_one_by_one(self.spark, settings, None)
            try:
                # a long-running job's steady state: the streams first take `warmup_s`
                # of the same traffic and catch up on it (Python workers started, code
                # generated), then the measured run begins
                warmup_started_ms = time.time() * 1000
                warm = run_producer(
                    settings,
                    duration_s=self.size.warmup_s,
                    rate=rate,
                    faults=FaultConfig.demo_defaults(),
                    clock="realtime",
                )
                warmed = _delivered_by_family(settings, warm.delivered_by_topic)
                _wait_caught_up(settings, warmed, timeout_s=600, running=running)
                warmup_batches = len(captured.batches)
                produce_started_ms = time.time() * 1000

                def produce() -> None:
                    outcome["report"] = run_producer(
                        settings,
                        duration_s=duration_s,
                        rate=rate,
                        faults=FaultConfig.demo_defaults(),
                        clock="realtime",
                    )

                thread = threading.Thread(target=produce, name="bench-producer", daemon=True)
                thread.start()
                while thread.is_alive():
                    thread.join(timeout=10)
                    _raise_if_stopped(running)
                    _progress(
                        "steady_state",
                        rate=rate,
                        elapsed_s=round(time.time() - produce_started_ms / 1000),
                        of_s=duration_s,
                        batches=len(captured.batches),
                    )
                produce_ended_ms = time.time() * 1000
                report = outcome["report"]
                delivered = _delivered_by_family(settings, report.delivered_by_topic)
                expected = {family: warmed[family] + n for family, n in delivered.items()}
                drained_at = self._drained_at(
                    lambda timeout_s: _wait_caught_up(settings, expected, timeout_s, running),
                    duration_s,
                )
            finally:
                stop_streams(running)
        achieved = report.delivered / report.elapsed_s if report.elapsed_s else 0.0
        return {
            "source": "broker",
            "rate": rate,
            "achieved_rate": round(achieved, 1),
            "duration_s": duration_s,
            "events": report.delivered,
            **_measured(
                settings,
                (warmup_started_ms, produce_started_ms, produce_ended_ms),
                drained_at,
                captured.batches[warmup_batches:],
                buckets,
                sampler.stop(),
            ),
        }

    def _steady_state_generated(
        self, rate: float, duration_s: float, buckets: int
    ) -> dict[str, Any]:
        """The steady state fed by the generated source: the same events, faults and
        pacing, admitted by a Spark source instead of read from the broker, so the lake's
        growth is measured without the embedded broker's own slowdown."""
        from producer.catalog import build_catalog
        from producer.reference_tables import write_reference_tables
        from spark_streaming.generated_source import stream_start
        from spark_streaming.streams import stop_streams

        warmup_s = self.size.warmup_s
        settings = self.settings(
            f"steady-generated-{int(rate)}-{int(duration_s)}-{_short_id()}",
            kafka_source="generated",
            generated_rate=rate,
            generated_events=round(rate * (warmup_s + duration_s)),
            # enough shop days that the timeline never runs ahead of the wall clock
            generated_history_days=max(30.0, rate * (warmup_s + duration_s) / 10_000),
        )
        # as the producer does before it publishes: the stock alarms need safety stock
        write_reference_tables(settings, build_catalog(settings.producer_seed))
        # produced_at of the n-th event is start + n / rate, and nothing is admitted
        # before start: the queries start one by one first, then the traffic begins
        start = stream_start(settings, not_before=datetime.now(UTC) + _GENERATED_LEAD)
        started_ms = datetime.fromisoformat(start).timestamp() * 1000
        since, until = started_ms + warmup_s * 1000, started_ms + (warmup_s + duration_s) * 1000
        sampler = ResourceSampler().start()
        with BatchLogCapture() as captured:
            running = _start_one_by_one(self.spark, settings, None)
            try:

                def wait_until(moment_ms: float) -> None:
                    while (left_s := moment_ms / 1000 - time.time()) > 0:
                        time.sleep(min(10.0, left_s))
                        _raise_if_stopped(running)
                        _progress(
                            "steady_state",
                            source="generated",
                            rate=rate,
                            elapsed_s=round(time.time() - since / 1000),
                            of_s=duration_s,
                            batches=len(captured.batches),
                        )

                wait_until(since)  # the warm-up: started queries, first batches
                warmup_batches = len(captured.batches)
                wait_until(until)

                def wait_caught_up(timeout_s: float) -> None:
                    deadline = time.monotonic() + timeout_s
                    totals = _generated_totals(running, until, deadline)
                    left_s = max(0.0, deadline - time.monotonic())
                    _wait_caught_up(settings, totals, left_s, running)

                drained_at = self._drained_at(wait_caught_up, duration_s)
            finally:
                stop_streams(running)
        return {
            "source": "generated",
            "rate": rate,
            "achieved_rate": rate,  # admitted on schedule: start + n / rate
            "duration_s": duration_s,
            "events": round(rate * duration_s),
            **_measured(
                settings,
                (started_ms, since, until),
                drained_at,
                captured.batches[warmup_batches:],
                buckets,
                sampler.stop(),
            ),
        }

    def _drained_at(
        self, wait_caught_up: Callable[[float], object], duration_s: float
    ) -> float | None:
        """When the streams caught up after the traffic stopped (epoch ms); None when
        they did not within the size's drain limit (lag not bounded at this rate).
        `wait_caught_up(timeout_s)` raises TimeoutError when the time runs out."""
        try:
            wait_caught_up(self.size.drain_limit_s)
            return time.time() * 1000
        except TimeoutError:
            # let it finish anyway, so the tables are complete for the outside view
            wait_caught_up(max(300, 3 * duration_s))
            return None


# about how long the three queries take to start one by one
_GENERATED_LEAD = timedelta(seconds=45)


def _generated_totals(running: list, ended_ms: float, deadline: float) -> dict[str, int]:
    """Each family's count of generated messages, from a trigger that began after the
    sequence's last produced_at: with no maxOffsetsPerTrigger, a trigger takes all the
    source offers, so its end offset is the topic's total."""
    while True:
        totals = {}
        for stream in running:
            progress = stream.query.lastProgress
            if progress and _began_ms(progress) > ended_ms:
                end = progress["sources"][0]["endOffset"]
                end = json.loads(end) if isinstance(end, str) else end
                totals[stream.family] = sum(int(o) for p in end.values() for o in p.values())
        if len(totals) == len(running):
            return totals
        _raise_if_stopped(running)
        if time.monotonic() > deadline:
            raise TimeoutError("a stream has not begun a trigger since the traffic ended")
        time.sleep(0.25)


def _began_ms(progress: dict) -> float:
    return datetime.fromisoformat(progress["timestamp"].replace("Z", "+00:00")).timestamp() * 1000


def _measured(
    settings: Settings,
    window_ms: tuple[float, float, float],
    drained_at: float | None,
    batches: list[dict],
    buckets: int,
    resources: dict[str, Any],
) -> dict[str, Any]:
    """A steady-state run's figures: `window_ms` is (warm-up start, measured start,
    traffic end) in epoch ms; `batches` are the measured part's batch log lines."""
    warmup_started_ms, since, ended_ms = window_ms
    lake = settings.resolved_lake_root
    return {
        "warmup": latency.outside_view(lake, warmup_started_ms, since),
        "outside": latency.outside_view(lake, since, ended_ms),
        "job": job_latency(stream_batches(lake), since, ended_ms + 600_000),
        "lag_bounded": drained_at is not None,
        "drain_s": round((drained_at - ended_ms) / 1000, 1) if drained_at else None,
        "batches": len(batches),
        "batch_durations_ms": durations_ms(batches),
        "batch_duration_series": _duration_series(batches, since, buckets),
        "gold_latency_series": latency.gold_series(lake, since, ended_ms, buckets),
        "phases_ms": phase_totals(batches),
        "resources": resources,
        "files_per_table": files_per_table(lake),
    }


def _retrying(run: Callable[[int], dict], what: str, attempts: int = 5) -> dict:
    """Spark gives a Python worker 10 s to connect back to the JVM; on a loaded shared
    machine a streaming source's worker can miss that while starting. Such a run is
    started again from scratch (fresh lake, checkpoints and, for steady state, topics)."""
    for attempt in range(attempts):
        try:
            return run(attempt)
        except RuntimeError as exc:
            if "connect back" not in str(exc) or attempt == attempts - 1:
                raise
            _progress("retry", what=what, attempt=attempt + 1, reason="python worker start")
    raise AssertionError("unreachable")


def _start_one_by_one(spark: Any, settings: Settings, writer: Any) -> list:
    """The family streams, started one after the other: each query's source starts a
    Python worker that must connect back to the JVM within 10 s, and three starting
    at once on a loaded 2-core machine miss that."""
    from spark_streaming.lake_writer import make_lake_writer
    from spark_streaming.streams import ALL_FAMILIES

    writer = writer or make_lake_writer(spark, settings)
    running: list = []
    try:
        for family in ALL_FAMILIES:
            running += _start_family(spark, settings, family, writer)
    except BaseException:
        from spark_streaming.streams import stop_streams

        stop_streams(running)
        raise
    return running


def _start_family(
    spark: Any, settings: Settings, family: str, writer: Any, attempts: int = 12
) -> list:
    """One family's stream, started again (same, still empty checkpoint) while its
    source's Python worker misses the JVM's connect-back deadline."""
    from spark_streaming.streams import start_streams, stop_streams

    for attempt in range(attempts):
        started = start_streams(spark, settings, [family], writer=writer)
        deadline = time.monotonic() + 60
        for stream in started:
            query = stream.query
            while time.monotonic() < deadline and query.isActive:
                if query.status.get("message") != "Initializing sources":
                    break
                time.sleep(0.2)
        try:
            _raise_if_stopped(started)
            return started
        except RuntimeError as exc:
            stop_streams(started)
            if "connect back" not in str(exc) or attempt == attempts - 1:
                raise
            _progress("retry_start", family=family, attempt=attempt + 1)
            time.sleep(2)
    raise AssertionError("unreachable")


def _short_id() -> str:
    return uuid.uuid4().hex[:6]


def _progress(step: str, **fields: object) -> None:
    log.info(kv("bench_progress", step=step, **fields))


def _copy_reference_tables(source: Settings, target: Settings) -> None:
    from deltalake import write_deltalake

    for spec in (tables.STORES, tables.PRODUCTS):
        data = DeltaTable(latency.table_dir(source.resolved_lake_root, spec)).to_pyarrow_table()
        write_deltalake(str(latency.table_dir(target.resolved_lake_root, spec)), data)


def bronze_rows(settings: Settings, family: str) -> int:
    path = latency.table_dir(settings.resolved_lake_root, _BRONZE_BY_FAMILY[family])
    if not (path / "_delta_log").is_dir():
        return 0
    actions = DeltaTable(str(path)).get_add_actions(flatten=True)
    return int(sum(actions.column("num_records").to_pylist() or [0]))


def _raise_if_stopped(running: Any) -> None:
    for stream in running or ():
        query = getattr(stream, "query", stream)
        if hasattr(query, "isActive") and not query.isActive:
            raise RuntimeError(f"a streaming query stopped: {query.exception()}")


def _delivered_by_family(settings: Settings, by_topic: dict[str, int]) -> dict[str, int]:
    """A producer report's delivered counts, per family instead of per topic."""
    return {f.name: by_topic.get(settings.topic(f), 0) for f in FAMILIES}


def _wait_caught_up(
    settings: Settings, expected: dict[str, int], timeout_s: float, running: Any = None
) -> float | None:
    """Until every family's bronze table holds what was delivered to its topic; returns
    the monotonic time the first rows appeared (the end of the first batch)."""
    deadline = time.monotonic() + timeout_s
    first_rows_at = None
    last_log = time.monotonic()
    while True:
        counts = {family: bronze_rows(settings, family) for family in expected}
        if first_rows_at is None and any(counts.values()):
            first_rows_at = time.monotonic()
        if all(counts[f] >= n for f, n in expected.items()):
            # bronze commits first: give the batch's remaining tables their commit
            _wait_ops_settled(settings)
            return first_rows_at
        _raise_if_stopped(running)
        if time.monotonic() > deadline:
            raise TimeoutError(
                f"streams did not catch up in {timeout_s:.0f}s: {counts} of {expected}"
            )
        if time.monotonic() - last_log > 10:
            _progress("catching_up", **{f: f"{counts[f]}/{n}" for f, n in expected.items()})
            last_log = time.monotonic()
        time.sleep(0.25)


def _wait_ops_settled(settings: Settings, quiet_s: float = 1.5, limit_s: float = 120) -> None:
    """The last batch's remaining tables commit after bronze: wait until ops stops moving."""
    path = latency.table_dir(settings.resolved_lake_root, tables.STREAM_BATCHES) / "_delta_log"
    deadline = time.monotonic() + limit_s
    seen, since = -1, time.monotonic()
    while time.monotonic() < deadline:
        count = len(list(path.glob("*.json"))) if path.is_dir() else 0
        if count != seen:
            seen, since = count, time.monotonic()
        elif time.monotonic() - since > quiet_s:
            return
        time.sleep(0.25)


def _first_batch_rows(batches: list[dict]) -> int:
    if not batches:
        return 0
    first = batches[0]
    return int(first.get("input_rows", 0)) if str(first.get("input_rows", "")).isdigit() else 0


def _duration_series(batches: list[dict], started_ms: float, buckets: int) -> list[dict]:
    if not batches:
        return []
    stamps = [b["logged_at"] * 1000 - started_ms for b in batches]
    span = max(stamps) or 1
    series = []
    for index in range(buckets):
        low, high = span * index / buckets, span * (index + 1) / buckets
        chosen = [
            int(b["duration_ms"])
            for b, t in zip(batches, stamps, strict=True)
            if low <= t < high or (index == buckets - 1 and t == high)
            if str(b.get("duration_ms", "")).isdigit()
        ]
        series.append(
            {
                "t_s": round(low / 1000, 1),
                "batches": len(chosen),
                "median_ms": statistics.median(chosen) if chosen else None,
            }
        )
    return series


Callback = Callable[[str], None]
