"""The producer's outage figures: stalls from a fake clock, failures and librdkafka
statistics from a real producer pointed at no broker."""

from __future__ import annotations

import json
import logging

from producer.delivery_health import LOGGED_FAILURES, DeliveryHealth
from producer.kafka_publisher import KafkaPublisher, producer_config
from producer.messages import OutboundMessage
from retail_lakehouse.settings import Settings


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_stall_is_time_with_messages_waiting_and_no_delivery() -> None:
    clock = Clock()
    health = DeliveryHealth(clock=clock, stall_after_s=2.0)
    for step in range(10):  # healthy: a report every 10 ms
        clock.now = step * 0.01
        health.on_delivered()
        health.observe(waiting=5)
    clock.now = 1.0
    health.observe(waiting=40)  # 0.91 s without a report: not yet an outage
    assert health.outages == 0
    clock.now = 31.0
    health.observe(waiting=30_000)
    assert health.outages == 1
    assert health.as_fields()["stalled_s"] == 30.9  # counted while it lasts
    clock.now = 32.0
    health.on_delivered()  # the broker answers again
    clock.now = 32.5
    health.observe(waiting=5)
    assert health.as_fields() == {
        "outages": 1, "stalled_s": 31.9, "longest_stall_s": 31.9, "broker_down_s": 0.0,
        "retries": 0, "request_timeouts": 0, "failed": 0,
    }  # fmt: skip


def test_statistics_give_retries_timeouts_and_time_without_a_broker() -> None:
    clock = Clock()
    health = DeliveryHealth(clock=clock)

    def stats(state: str, retries: int, timeouts: int) -> str:
        brokers = {
            "bootstrap": {"nodeid": -1, "state": "INIT"},  # the bootstrap entry is not a broker
            "b1": {"nodeid": 1, "state": state, "txretries": retries, "req_timeouts": timeouts},
        }
        return json.dumps({"brokers": brokers})

    for second, state in enumerate(["UP", "UP", "CONNECT", "APIVERSION_QUERY", "UP", "UP"]):
        clock.now = float(second)
        health.on_stats(stats(state, retries=second * 2, timeouts=second // 3))
    assert health.broker_down_s == 2.0
    assert (health.retries, health.request_timeouts) == (10, 1)


def test_each_undelivered_message_is_reported_after_the_delivery_timeout(caplog) -> None:
    settings = Settings(kafka_bootstrap_servers="127.0.0.1:1", producer_delivery_timeout="300 ms")
    config = producer_config(settings, {"log_level": 0})
    assert config["message.timeout.ms"] == 300
    messages = [
        OutboundMessage("retail.test", b"k", b'{"n":%d}' % i, str(i), "sale") for i in range(25)
    ]
    with caplog.at_level(logging.WARNING, logger="producer.delivery_health"):
        result = KafkaPublisher(config, flush_timeout_s=10).publish(messages)
    assert result.failed == 25 and result.outages["failed"] == 25
    failures = [
        r.getMessage() for r in caplog.records if "producer_delivery_failed" in r.getMessage()
    ]
    assert len(failures) == LOGGED_FAILURES + 1  # one line per message, then a pointer to stats
    assert "topic=retail.test" in failures[0] and "error=_MSG_TIMED_OUT" in failures[0]
    assert "PRODUCER_DELIVERY_TIMEOUT" in failures[0]
