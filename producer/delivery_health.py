"""What the producer saw of broker outages: stalls, retries, request timeouts and the
messages that could not be delivered within PRODUCER_DELIVERY_TIMEOUT.

librdkafka retries on its own and holds messages while the broker is away; this only
watches: a stall is time with messages waiting and no delivery report at all, which
is what a frozen or restarting broker looks like from here.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from confluent_kafka import KafkaError, Message

from retail_lakehouse.logs import kv

log = logging.getLogger(__name__)

STALL_AFTER_S = 2.0  # ~1000x the usual delivery time: nothing normal waits this long
LOGGED_FAILURES = 20  # failed messages logged one by one; the rest are counted


@dataclass
class DeliveryHealth:
    clock: Callable[[], float] = time.monotonic
    stall_after_s: float = STALL_AFTER_S
    outages: int = 0
    stalled_s: float = 0.0  # finished stalls; `stalled_now_s` adds the one under way
    longest_stall_s: float = 0.0
    broker_down_s: float = 0.0  # from librdkafka statistics: no broker connection UP
    retries: int = 0
    request_timeouts: int = 0
    failed: int = 0
    _last_report: float | None = field(default=None, repr=False)
    _stalled_since: float | None = field(default=None, repr=False)
    _last_stats: float | None = field(default=None, repr=False)

    def on_delivered(self) -> None:
        self._last_report = self.clock()
        if self._stalled_since is not None:
            self._end_stall(self._last_report)

    def on_failed(self, error: KafkaError, message: Message) -> None:
        """One delivery failure: the message is lost unless it is sent again."""
        self.failed += 1
        if self.failed <= LOGGED_FAILURES:
            log.warning(
                kv(
                    "producer_delivery_failed",
                    topic=message.topic(),
                    partition=message.partition(),
                    key=message.key(),
                    error=error.name(),
                    reason=repr(error.str()),
                    action="not delivered; re-send it, or raise PRODUCER_DELIVERY_TIMEOUT",
                )
            )
        elif self.failed == LOGGED_FAILURES + 1:
            log.warning(kv("producer_delivery_failed", more="counted in producer_stats"))

    def observe(self, waiting: int) -> None:
        """Called from the produce loop with the number of messages not yet reported."""
        now = self.clock()
        if waiting == 0 or self._last_report is None:
            self._last_report = now  # nothing outstanding is not a stall
            if self._stalled_since is not None:
                self._end_stall(now)
            return
        if self._stalled_since is None and now - self._last_report > self.stall_after_s:
            self._stalled_since = self._last_report
            self.outages += 1
            log.warning(kv("producer_outage", waiting=waiting, since_s=now - self._last_report))

    def on_stats(self, stats_json: str) -> None:
        """librdkafka's statistics callback (statistics.interval.ms)."""
        now = self.clock()
        stats = json.loads(stats_json)
        brokers = [b for b in stats.get("brokers", {}).values() if b.get("nodeid", -1) >= 0]
        self.retries = sum(int(b.get("txretries", 0)) for b in brokers)
        self.request_timeouts = sum(int(b.get("req_timeouts", 0)) for b in brokers)
        if self._last_stats is not None and not any(b.get("state") == "UP" for b in brokers):
            self.broker_down_s += now - self._last_stats
        self._last_stats = now

    def stalled_now_s(self) -> float:
        ongoing = 0.0 if self._stalled_since is None else self.clock() - self._stalled_since
        return self.stalled_s + ongoing

    def as_fields(self) -> dict[str, float | int]:
        return {
            "outages": self.outages,
            "stalled_s": round(self.stalled_now_s(), 1),
            "longest_stall_s": round(self.longest_stall_s, 1),
            "broker_down_s": round(self.broker_down_s, 1),
            "retries": self.retries,
            "request_timeouts": self.request_timeouts,
            "failed": self.failed,
        }

    def _end_stall(self, now: float) -> None:
        assert self._stalled_since is not None
        length = now - self._stalled_since
        self.stalled_s += length
        self.longest_stall_s = max(self.longest_stall_s, length)
        self._stalled_since = None
        log.warning(kv("producer_outage_over", stalled_s=length, outages=self.outages))
