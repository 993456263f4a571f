"""The whole producer: topics, reference tables, the simulated shop, Kafka."""

from __future__ import annotations

import logging
import threading
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Literal

from producer.catalog import build_catalog
from producer.clock import DEFAULT_START, Clock, RealtimeClock, SimulatedClock
from producer.faults import FaultConfig
from producer.kafka_publisher import KafkaPublisher, producer_config
from producer.reference_tables import write_reference_tables
from producer.stream import generate_messages
from producer.topics import ensure_topics
from retail_lakehouse.logs import kv
from retail_lakehouse.settings import Settings

log = logging.getLogger(__name__)

ClockMode = Literal["simulated", "realtime"]


@dataclass(frozen=True)
class ProduceReport:
    """What one producer run sent; `faults` counts injected faults per kind."""

    seed: int
    clock: ClockMode
    events: int  # clean events drawn from the simulator
    sent_by_topic: dict[str, int]
    delivered_by_topic: dict[str, int]
    delivered: int
    failed: int
    failure_reasons: dict[str, int]
    undelivered: int
    faults: dict[str, int]
    elapsed_s: float
    stopped_by: str
    outages: dict[str, float | int] = field(default_factory=dict)  # stalls, retries, failures

    @property
    def sent_total(self) -> int:
        return sum(self.sent_by_topic.values())

    @property
    def events_per_s(self) -> float:
        return self.events / self.elapsed_s if self.elapsed_s > 0 else 0.0

    @property
    def messages_per_s(self) -> float:
        return self.sent_total / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def to_dict(self) -> dict[str, object]:
        return {
            **asdict(self),
            "sent_total": self.sent_total,
            "events_per_s": round(self.events_per_s, 1),
            "messages_per_s": round(self.messages_per_s, 1),
            "elapsed_s": round(self.elapsed_s, 3),
        }


def make_clock(mode: ClockMode, start: datetime | None = None) -> Clock:
    if mode == "realtime":
        if start is not None:
            raise ValueError("start only applies to the simulated clock")
        return RealtimeClock()
    return SimulatedClock(start or DEFAULT_START)


def run_producer(
    settings: Settings,
    *,
    events: int | None = None,
    duration_s: float | None = None,
    rate: float | None = None,
    seed: int | None = None,
    faults: FaultConfig | None = None,
    clock: ClockMode = "simulated",
    start: datetime | None = None,
    write_reference: bool = True,
    stop: threading.Event | None = None,
) -> ProduceReport:
    """Ensure topics, write reference tables, then publish the simulated shop.

    Runs until `events` clean events are sent, `duration_s` passes, `stop` is set
    or SIGINT/SIGTERM arrives; with none of them it runs until stopped. Defaults
    come from settings: PRODUCER_SEED and PRODUCER_RATE (0 = as fast as possible).
    The same seed replays the same event ids, so a second run with the same seed
    looks like a wholesale resend to a de-duplicating pipeline.
    """
    seed = settings.producer_seed if seed is None else seed
    rate = settings.producer_rate if rate is None else rate
    the_clock = make_clock(clock, start)
    catalog = build_catalog(seed)
    ensure_topics(settings)
    if write_reference:
        write_reference_tables(settings, catalog)
    stream = generate_messages(
        settings, seed=seed, events=events, faults=faults, clock=the_clock, catalog=catalog
    )
    publisher = KafkaPublisher(producer_config(settings), rate=rate)
    result = publisher.publish(stream, duration_s=duration_s, stop=stop)
    report = ProduceReport(
        seed=seed,
        clock=clock,
        events=stream.events,
        sent_by_topic=result.sent_by_topic,
        delivered_by_topic=result.delivered_by_topic,
        delivered=result.delivered,
        failed=result.failed,
        failure_reasons=result.failure_reasons,
        undelivered=result.undelivered,
        faults=stream.faults.to_dict(),
        elapsed_s=result.elapsed_s,
        stopped_by=result.stopped_by,
        outages=result.outages,
    )
    scalars = {k: v for k, v in report.to_dict().items() if not isinstance(v, dict)}
    log.info(kv("produce_report", **{**scalars, **report.outages}))
    return report
