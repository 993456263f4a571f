"""Publishing messages with confluent-kafka, in the shape of its own examples.

An idempotent producer with acks=all; a delivery callback per message counts what
the broker confirmed and why anything failed; poll(0) after each produce serves
those callbacks; a full local queue (BufferError) is drained by polling and the
message retried; flush() runs on every way out, including SIGINT and SIGTERM.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from confluent_kafka import KafkaError, Message, Producer

from producer.delivery_health import DeliveryHealth
from producer.messages import OutboundMessage
from producer.pacing import Pacer
from retail_lakehouse.durations import duration_seconds
from retail_lakehouse.logs import kv
from retail_lakehouse.settings import Settings

log = logging.getLogger(__name__)

StopReason = Literal["exhausted", "count", "duration", "stopped"]
_POLL_RESOLUTION_S = 0.001  # librdkafka's poll timeout is in whole milliseconds
_SHORTEST_WAIT_S = 0.005  # paced sends go out in bursts at most this far ahead of time


def producer_config(
    settings: Settings, overrides: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """librdkafka settings for a producer that neither loses nor duplicates on retry;
    `overrides` are librdkafka keys, e.g. {"linger.ms": 20}."""
    config: dict[str, Any] = {
        **settings.kafka_client_config(),
        "enable.idempotence": True,
        "acks": "all",
        "linger.ms": settings.producer_linger_ms,
        "client.id": "retail-lakehouse-producer",
        # each message is retried until this timeout, then reported failed (librdkafka's
        # message.timeout.ms, the Java client's delivery.timeout.ms)
        "message.timeout.ms": int(duration_seconds(settings.producer_delivery_timeout) * 1000),
        "statistics.interval.ms": 1000,  # feeds the outage figures in the stats lines
    }
    config.update(overrides or {})
    return config


@dataclass(frozen=True)
class PublishResult:
    sent_by_topic: dict[str, int]
    delivered_by_topic: dict[str, int]
    failed: int
    failure_reasons: dict[str, int]
    undelivered: int  # still queued when flush() gave up
    buffer_full_retries: int
    elapsed_s: float
    stopped_by: StopReason
    outages: dict[str, float | int] = field(default_factory=dict)  # DeliveryHealth.as_fields

    @property
    def sent(self) -> int:
        return sum(self.sent_by_topic.values())

    @property
    def delivered(self) -> int:
        return sum(self.delivered_by_topic.values())

    @property
    def rate(self) -> float:
        return self.sent / self.elapsed_s if self.elapsed_s > 0 else 0.0


@dataclass
class _Tally:
    sent: Counter[str] = field(default_factory=Counter)
    delivered: Counter[str] = field(default_factory=Counter)
    failures: Counter[str] = field(default_factory=Counter)
    buffer_full_retries: int = 0
    health: DeliveryHealth = field(default_factory=DeliveryHealth)

    def on_delivery(self, err: KafkaError | None, msg: Message) -> None:
        if err is not None:
            self.failures[err.name()] += 1
            self.health.on_failed(err, msg)
        else:
            self.delivered[msg.topic() or ""] += 1
            self.health.on_delivered()


class KafkaPublisher:
    def __init__(
        self,
        config: Mapping[str, Any],
        *,
        rate: float | None = None,
        stats_interval_s: float = 5.0,
        flush_timeout_s: float = 30.0,
    ) -> None:
        self._health = DeliveryHealth()
        self._producer = Producer({"stats_cb": self._health.on_stats, **config})
        self._pacer = Pacer(rate)
        self._stats_interval_s = stats_interval_s
        self._flush_timeout_s = flush_timeout_s

    def publish(
        self,
        messages: Iterable[OutboundMessage],
        *,
        max_messages: int | None = None,
        duration_s: float | None = None,
        stop: threading.Event | None = None,
    ) -> PublishResult:
        """Produce until the messages run out, a bound is hit or `stop` is set."""
        stop = stop or threading.Event()
        tally = _Tally(health=self._health)
        started = time.monotonic()
        reason: StopReason = "stopped"
        with _stop_on_signals(stop):
            try:
                reason = self._loop(iter(messages), tally, started, max_messages, duration_s, stop)
            finally:
                undelivered = self._producer.flush(self._flush_timeout_s)
                self._log_stats(tally, started, final=True)
        return PublishResult(
            sent_by_topic=dict(tally.sent),
            delivered_by_topic=dict(tally.delivered),
            failed=sum(tally.failures.values()),
            failure_reasons=dict(tally.failures),
            undelivered=undelivered,
            buffer_full_retries=tally.buffer_full_retries,
            elapsed_s=time.monotonic() - started,
            stopped_by=reason,
            outages=self._health.as_fields(),
        )

    def _loop(
        self,
        messages: Iterator[OutboundMessage],
        tally: _Tally,
        started: float,
        max_messages: int | None,
        duration_s: float | None,
        stop: threading.Event,
    ) -> StopReason:
        next_stats = started + self._stats_interval_s
        while not stop.is_set():
            if max_messages is not None and tally.sent.total() >= max_messages:
                return "count"
            now = time.monotonic()
            if duration_s is not None and now - started >= duration_s:
                return "duration"
            if now >= next_stats:
                self._log_stats(tally, started)
                next_stats = now + self._stats_interval_s
            wait = self._pacer.wait_time(now)
            # shorter waits are added up into one (the pacer counts the debt): a wake-up
            # per message cost more CPU than the message itself
            if wait >= _SHORTEST_WAIT_S:
                self._serve_for(wait, stop)
            # pulled only now, so the produced_at stamped into it is the send time
            message = next(messages, None)
            if message is None:
                return "exhausted"
            if self._produce(message, tally, stop):
                tally.sent[message.topic] += 1
            self._producer.poll(0)
            self._health.observe(len(self._producer))
        return "stopped"

    def _produce(self, message: OutboundMessage, tally: _Tally, stop: threading.Event) -> bool:
        while True:
            try:
                self._producer.produce(
                    message.topic,
                    value=message.value,
                    key=message.key,
                    on_delivery=tally.on_delivery,
                )
                return True
            except BufferError:
                # the local queue is full: serve delivery reports to make room, then retry
                tally.buffer_full_retries += 1
                if stop.is_set():
                    return False
                self._producer.poll(0.1)
                self._health.observe(len(self._producer))

    def _serve_for(self, seconds: float, stop: threading.Event) -> None:
        """Wait out a pacing delay while still serving delivery callbacks.

        librdkafka waits in whole milliseconds and returns at once for less, so a
        shorter remainder is slept instead: polling it spun on the GIL, one core at
        1,000 events/s (docs/performance.md)."""
        deadline = time.monotonic() + seconds
        while not stop.is_set():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            if remaining < _POLL_RESOLUTION_S:
                time.sleep(remaining)
                return
            self._producer.poll(min(remaining, 0.1))
            self._health.observe(len(self._producer))

    def _log_stats(self, tally: _Tally, started: float, final: bool = False) -> None:
        elapsed = max(time.monotonic() - started, 1e-9)
        sent = tally.sent.total()
        log.info(
            kv(
                "producer_done" if final else "producer_stats",
                sent=sent,
                delivered=tally.delivered.total(),
                queued=len(self._producer),
                rate=sent / elapsed,
                **self._health.as_fields(),
            )
        )


@contextlib.contextmanager
def _stop_on_signals(stop: threading.Event) -> Iterator[None]:
    """SIGINT/SIGTERM set `stop` so the loop ends and flushes; main thread only,
    because Python delivers signals there and nowhere else."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: object) -> None:
        log.info(kv("producer_stopping", signal=signal.Signals(signum).name))
        stop.set()

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
