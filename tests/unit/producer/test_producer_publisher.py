"""The publisher against no broker at all, like confluent-kafka's own unit tests:
an unreachable bootstrap address and tiny timeouts make every delivery fail fast."""

from __future__ import annotations

import itertools
import os
import signal
import threading
import time

from producer.kafka_publisher import KafkaPublisher, producer_config
from producer.messages import OutboundMessage
from retail_lakehouse.settings import Settings

UNREACHABLE = {
    "bootstrap.servers": "127.0.0.1:1",
    "message.timeout.ms": 200,
    "log_level": 0,  # librdkafka would log every refused connection
}


def some_messages(count: int, topic: str = "retail.test") -> list[OutboundMessage]:
    return [
        OutboundMessage(topic, b"k%d" % (i % 3), b'{"n":%d}' % i, str(i), "sale")
        for i in range(count)
    ]


def endless() -> itertools.repeat[OutboundMessage]:
    return itertools.repeat(some_messages(1)[0])


def test_producer_config_is_idempotent_with_acks_all() -> None:
    config = producer_config(Settings(kafka_bootstrap_servers="broker:9092"))
    assert config["bootstrap.servers"] == "broker:9092"
    assert config["enable.idempotence"] is True
    assert config["acks"] == "all"
    assert config["linger.ms"] == 5  # PRODUCER_LINGER_MS's default
    unbatched = Settings(kafka_bootstrap_servers="b:1", producer_linger_ms=0)
    assert producer_config(unbatched)["linger.ms"] == 0
    tuned = producer_config(Settings(kafka_bootstrap_servers="b:1"), {"linger.ms": 20})
    assert tuned["linger.ms"] == 20 and tuned["acks"] == "all"


def test_undeliverable_messages_are_counted_as_failed() -> None:
    publisher = KafkaPublisher(UNREACHABLE, flush_timeout_s=10)
    result = publisher.publish(some_messages(20))
    assert result.sent_by_topic == {"retail.test": 20}
    assert result.delivered == 0
    assert result.failed == 20
    assert result.failure_reasons == {"_MSG_TIMED_OUT": 20}
    assert result.undelivered == 0
    assert result.stopped_by == "exhausted"


def test_a_full_local_queue_is_drained_and_retried() -> None:
    config = {**UNREACHABLE, "queue.buffering.max.messages": 2}
    publisher = KafkaPublisher(config, flush_timeout_s=10)
    result = publisher.publish(some_messages(3))
    assert result.buffer_full_retries > 0
    assert result.sent == 3
    assert result.failed == 3


def test_count_bound() -> None:
    result = KafkaPublisher(UNREACHABLE).publish(endless(), max_messages=7)
    assert (result.sent, result.failed, result.stopped_by) == (7, 7, "count")


def test_duration_bound_with_pacing() -> None:
    publisher = KafkaPublisher(UNREACHABLE, rate=50)
    result = publisher.publish(endless(), duration_s=0.5)
    assert result.stopped_by == "duration"
    # 0.5 s at 50/s plus the initial burst of 5
    assert 20 <= result.sent <= 31
    assert result.failed == result.sent


def test_stop_event_from_another_thread() -> None:
    stop = threading.Event()
    threading.Timer(0.3, stop.set).start()
    started = time.monotonic()
    result = KafkaPublisher(UNREACHABLE, rate=100).publish(endless(), stop=stop)
    assert result.stopped_by == "stopped"
    assert time.monotonic() - started < 3
    assert result.failed == result.sent > 0


def test_sigterm_stops_and_flushes_then_restores_the_handler() -> None:
    before = signal.getsignal(signal.SIGTERM)
    threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGTERM)).start()
    result = KafkaPublisher(UNREACHABLE, rate=100).publish(endless())
    assert result.stopped_by == "stopped"
    assert result.failed == result.sent > 0  # flushed: every message has a delivery report
    assert signal.getsignal(signal.SIGTERM) is before


def test_publishing_from_a_worker_thread_leaves_signals_alone() -> None:
    results = []
    before = signal.getsignal(signal.SIGINT)
    worker = threading.Thread(
        target=lambda: results.append(KafkaPublisher(UNREACHABLE).publish(some_messages(3)))
    )
    worker.start()
    worker.join(timeout=10)
    assert results[0].failed == 3
    assert signal.getsignal(signal.SIGINT) is before


def test_paced_publishing_waits_instead_of_spinning() -> None:
    """At 1,000 messages/s each message waits about a millisecond, less than librdkafka's
    poll resolution: polling those waits spun the publishing thread at a full core."""
    publisher = KafkaPublisher(UNREACHABLE, rate=1_000, flush_timeout_s=10)
    cpu_before = time.thread_time()
    result = publisher.publish(endless(), duration_s=1.0)
    cpu_s = time.thread_time() - cpu_before
    assert result.stopped_by == "duration"
    assert 900 <= result.sent <= 1_200  # the rate held: a second's worth plus the burst
    assert cpu_s < 0.4, f"the publishing thread used {cpu_s:.2f} s of CPU in 1 s"
