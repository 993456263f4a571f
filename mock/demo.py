"""`lakehouse demo`: local Kafka -> producer -> pipeline until caught up -> warehouse
(freshness check, load, dbt build, outputs/aggregates_daily.csv) -> summary.

While the pipeline runs, `lakehouse load --follow` (mock/live_loader.py) keeps the live
marts (fct_daily_kpis, fct_product_sales_minute) within seconds of the lake and measures
how long after being produced each sale was counted in them; the summary reports it.

With KAFKA_BOOTSTRAP_SERVERS unset, a single-node Apache Kafka is started on loopback
with a fresh log, so the demo lake from the previous run is cleared first: its
recorded offsets would point into a log that is gone. With a real cluster
configured, nothing is cleared and the pipeline resumes where it stopped.

First, `history_days` of the shop's past (producer/history.py: the simulator on its own
clock up to shortly before now) are streamed at full speed, so the daily and 14-day
panels and the inventory health have days behind them; the live traffic follows on top.
The history's batches are left out of the latency the summary reports; the live loader
takes the history into the warehouse before the live traffic starts, and measures only
sales produced after it.

`--clock simulated` stamps events on the simulator's own timeline from `--start`, so a
run covers as many shop days as its events span (about 27k events per simulated day at
the default catalog) while produce-to-lake latency stays real. The warehouse half is
skipped, with a note, when the loader or the dbt runner is not installed.
"""

from __future__ import annotations

import logging
import shutil
import threading
import time
from collections import Counter
from collections.abc import Mapping
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from retail_lakehouse.logs import kv
from retail_lakehouse.settings import Settings, is_remote

if TYPE_CHECKING:
    from mock.live_loader import LiveLoader

log = logging.getLogger(__name__)

OUTPUTS = Path("outputs")

# Spark's heap for the demo unless SPARK_DRIVER_MEMORY is set: with the 2g default the
# JVM grew to 1.4 to 2.1 GB while the history streamed through and the demo's processes
# peaked at 3.6 to 4.0 GB together; with 1g, 1.4 to 1.6 GB and 3.1 to 3.5 GB
# (docs/performance.md)
DEMO_DRIVER_MEMORY = "1g"
# half the default batch for half the default heap: the driver holds a batch's records
DEMO_MAX_OFFSETS_PER_TRIGGER = 50_000


def run_demo(
    settings: Settings,
    *,
    events: int = 50_000,
    rate: float = 1_000.0,
    seed: int | None = None,
    catch_up_timeout_s: float = 600.0,
    outputs: Path = OUTPUTS,
    clock: str = "realtime",
    start: datetime | None = None,
    warehouse: bool = True,
    history_days: int = 7,
) -> dict[str, Any]:
    from mock.kafka_broker import LocalKafka
    from mock.summary import live_lines, render, summarize_lake, warehouse_lines, write_outputs
    from producer.faults import FaultConfig
    from producer.run import run_producer
    from producer.topics import ensure_topics
    from spark_streaming.session import build_session, stop_session
    from spark_streaming.streams import start_pipeline, stop_pipeline

    started = time.monotonic()
    seed = seed if seed is not None else settings.producer_seed
    settings = demo_settings(settings)
    with ExitStack() as stack:
        if not settings.kafka_bootstrap_servers:
            outputs.mkdir(parents=True, exist_ok=True)
            broker = stack.enter_context(LocalKafka(log_path=outputs / "broker.log"))
            settings = settings.model_copy(
                update={"kafka_bootstrap_servers": broker.bootstrap_servers}
            )
            _clear_previous_demo(settings)
        ensure_topics(settings)
        spark = build_session(settings, app_name="retail-lakehouse-demo")
        # stop Spark before the broker, or its cached Kafka consumers keep reconnecting;
        # and end its JVM, which the warehouse half has no use for
        stack.callback(stop_session, spark)
        running = start_pipeline(spark, settings)
        stack.callback(stop_pipeline, running)
        history = _stream_history(running, settings, history_days, seed, catch_up_timeout_s)
        live_from = datetime.now(UTC)
        live = _start_live_loader(settings, outputs, live_from) if warehouse else None
        if live is not None:
            stack.callback(live.close)
            if history.days:
                _wait_for_warehouse(live, catch_up_timeout_s)

        outcome: dict[str, Any] = {}

        def produce() -> None:
            try:
                outcome["report"] = run_producer(
                    settings,
                    events=events,
                    rate=rate or None,
                    seed=seed,
                    faults=FaultConfig.demo_defaults(),
                    clock=clock,  # type: ignore[arg-type]
                    start=start,
                )
            except BaseException as exc:  # surfaced in the main thread
                outcome["error"] = exc

        producer = threading.Thread(target=produce, name="producer", daemon=True)
        producer.start()
        _wait_for_producer(producer, running)
        if "error" in outcome:
            raise RuntimeError(f"producer failed: {outcome['error']}") from outcome["error"]
        report = outcome["report"]
        delivered = Counter(report.delivered_by_topic) + Counter(history.delivered_by_topic)
        _wait_until_caught_up(running, delivered, settings, catch_up_timeout_s)
        stop_pipeline(running)
        wall_s = time.monotonic() - started
        followed = live.stop() if live is not None else None

    lake_summary = summarize_lake(settings, after_batch=history.last_batch)
    produced = report.to_dict()
    processed = running.processor.input_rows_total
    extra: dict[str, Any] = {
        **history.lines(),
        "wall time (events to lake)": f"{wall_s:.1f} s",
        "records processed by the pipeline": processed,
    }
    if followed is not None:
        extra.update(live_lines(followed))
    warehouse_report = _run_warehouse(settings, outputs) if warehouse else None
    if warehouse_report is not None:
        extra.update(warehouse_lines(warehouse_report))
    text = render(produced, lake_summary, extra)
    print(text, flush=True)
    payload = {
        "produced": produced,
        "lake": lake_summary.to_dict(),
        "warehouse": warehouse_report.to_dict() if warehouse_report else None,
        "live_marts": followed,
        **extra,
    }
    write_outputs(outputs, payload, text)
    return payload


def demo_settings(settings: Settings) -> Settings:
    """The demo's own defaults, where the user set nothing: Spark's heap, and the
    micro-batch cap that goes with it."""
    if "spark_driver_memory" in settings.model_fields_set:
        return settings
    update: dict[str, object] = {"spark_driver_memory": DEMO_DRIVER_MEMORY}
    if "max_offsets_per_trigger" not in settings.model_fields_set:
        update["max_offsets_per_trigger"] = DEMO_MAX_OFFSETS_PER_TRIGGER
    return settings.model_copy(update=update)


def _warehouse_installed() -> bool:
    import importlib.util

    for module in ("loaders.lake_to_snowflake", "loaders.kpi_models"):
        if importlib.util.find_spec(module) is None:
            log.warning(kv("demo_warehouse_skipped", reason=f"{module} is not installed"))
            return False
    return True


def _start_live_loader(settings: Settings, outputs: Path, live_from: datetime) -> LiveLoader | None:
    """`lakehouse load --follow` beside the streams (None without the warehouse half);
    it measures the sales produced from `live_from` on."""
    if not _warehouse_installed():
        return None
    from mock.live_loader import LiveLoader

    return LiveLoader(settings, outputs).start(measured_from=live_from)


@dataclass
class _History:
    days: int
    delivered_by_topic: dict[str, int] = field(default_factory=dict)
    last_batch: int | None = None  # the pipeline's last batch holding history
    seconds: float = 0.0

    def lines(self) -> dict[str, str]:
        if not self.days:
            return {}
        events = sum(self.delivered_by_topic.values())
        return {
            "history (before the live events)": f"{events} events over the last {self.days} "
            f"days, through the pipeline in {self.seconds:.1f} s; left out of the latency"
        }


def _stream_history(
    running: Any, settings: Settings, days: int, seed: int, timeout_s: float
) -> _History:
    """Publish the history and wait until the pipeline has committed it."""
    if days <= 0:
        return _History(0)
    from producer.history import publish_history

    started = time.monotonic()
    published = publish_history(settings, days=days, seed=seed)
    if published.failed or published.undelivered:
        raise RuntimeError(f"the history was not delivered whole: {published}")
    _wait_until_caught_up(running, published.delivered_by_topic, settings, timeout_s)
    batches = running.processor.history
    return _History(
        days,
        dict(published.delivered_by_topic),
        batches[-1].batch_id if batches else None,
        time.monotonic() - started,
    )


def _wait_for_warehouse(live: LiveLoader, timeout_s: float) -> None:
    """The warehouse takes in the history before the live traffic starts, as a deployed
    one is loaded before it goes live: its first load (every row of the history) would
    otherwise share the two cores with the first live micro-batches."""
    started = time.monotonic()
    if live.wait_for_first_refresh(timeout_s):
        log.info(kv("demo_warehouse_caught_up", seconds=round(time.monotonic() - started, 1)))
    else:
        log.warning(
            kv("demo_warehouse_not_caught_up", log=str(live.log_path), waited_s=round(timeout_s))
        )


def _run_warehouse(settings: Settings, outputs: Path) -> Any:
    """Freshness check -> load -> dbt build (the DAG's full rebuild) -> the daily CSV."""
    if not _warehouse_installed():
        return None
    from loaders.warehouse_pipeline import run_warehouse_pipeline

    # the streams stopped seconds ago: anything older than an hour would mean a bug
    return run_warehouse_pipeline(
        settings, max_age_minutes=60, csv_path=outputs / "aggregates_daily.csv"
    )


def _clear_previous_demo(settings: Settings) -> None:
    roots = [settings.resolved_lake_root, settings.resolved_checkpoint_root]
    if settings.uses_warehouse_emulator:
        # the emulated warehouse holds the old lake's rows; a real one is never touched
        from retail_lakehouse.warehouse import emulator_path

        roots.append(str(emulator_path(settings)))
    for root in roots:
        if not is_remote(root) and Path(root).exists():
            log.info(kv("demo_clearing_previous_run", path=root))
            shutil.rmtree(root)


def _wait_for_producer(producer: threading.Thread, running: Any) -> None:
    while producer.is_alive():
        producer.join(timeout=1.0)
        _raise_if_stopped(running)


def _wait_until_caught_up(
    running: Any, delivered: Mapping[str, int], settings: Settings, timeout_s: float
) -> None:
    """Caught up when the pipeline has read every record delivered to each topic."""
    topics = [settings.topic(plan.family) for plan in running.processor.plans.values()]
    expected = {t: delivered.get(t, 0) for t in topics}
    deadline = time.monotonic() + timeout_s
    last_log = 0.0
    while True:
        behind = {t: expected[t] - running.records_read(t) for t in topics}
        if all(v <= 0 for v in behind.values()):
            return
        _raise_if_stopped(running)
        if time.monotonic() > deadline:
            raise TimeoutError(f"the pipeline did not catch up within {timeout_s:.0f}s: {behind}")
        if time.monotonic() - last_log > 5:
            log.info(kv("catching_up", **{f"{k}_behind": v for k, v in behind.items()}))
            last_log = time.monotonic()
        time.sleep(0.25)


def _raise_if_stopped(running: Any) -> None:
    if not running.query.isActive:
        raise RuntimeError(f"the pipeline stopped: {running.query.exception()}")
