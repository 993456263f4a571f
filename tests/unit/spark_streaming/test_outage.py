"""The backoff-within-budget helper, with a fake clock: no sleeping, exact timings."""

from __future__ import annotations

import logging

import pytest

from retail_lakehouse.durations import duration_seconds
from retail_lakehouse.settings import Settings
from spark_streaming.outage import (
    Outage,
    OutageTooLongError,
    jvm_kafka_outage_options,
    kafka_outage_reason,
    ride_out,
)
from spark_streaming.sources import kafka_stream_options

OUTAGE = Outage("kafka", "broker-1:9092", 30.0, "KAFKA_OUTAGE_TOLERANCE", 1.0, 8.0)


class FakeTime:
    """A clock that moves only when slept on, or by a call's own cost."""

    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def flaky(failures: int, time: FakeTime, cost_s: float = 0.0, error: Exception | None = None):
    calls = {"n": 0}

    def call() -> str:
        calls["n"] += 1
        time.now += cost_s
        if calls["n"] <= failures:
            raise error or ConnectionError("connection refused")
        return "answer"

    return call, calls


def test_a_short_outage_is_waited_out_with_doubling_pauses(caplog) -> None:
    time = FakeTime()
    call, calls = flaky(5, time)
    with caplog.at_level(logging.WARNING, logger="spark_streaming.outage"):
        result = ride_out(
            call, OUTAGE, "latestOffset", lambda e: True, sleep=time.sleep, clock=time.clock
        )
    assert result == "answer" and calls["n"] == 6
    assert time.sleeps == [1.0, 2.0, 4.0, 8.0, 8.0]  # doubling, capped at max_backoff_s
    warnings = [r.getMessage() for r in caplog.records]
    # one warning per retry naming the broker and the wait so far, then one on recovery
    assert len(warnings) == 6
    assert warnings[0].startswith("event=kafka_outage target=broker-1:9092 during=latestOffset")
    assert "waited_s=15.0" in warnings[4]
    assert warnings[5].startswith("event=kafka_recovered") and "retries=5" in warnings[5]


def test_past_the_budget_one_clear_error_says_what_to_do() -> None:
    time = FakeTime()
    call, calls = flaky(1000, time, cost_s=2.0)
    with pytest.raises(OutageTooLongError) as raised:
        ride_out(call, OUTAGE, "latestOffset", lambda e: True, sleep=time.sleep, clock=time.clock)
    message = str(raised.value)
    assert "\n" not in message
    # the last attempt starts as the budget runs out and costs its own 2 s
    assert message.startswith("kafka at broker-1:9092 unreachable for 32s during latestOffset")
    assert "KAFKA_OUTAGE_TOLERANCE=30s" in message and "connection refused" in message
    assert "restart the job" in message
    # the last pause is cut to what the budget has left: the job stops on time
    assert time.sleeps[-1] == 5.0
    assert sum(time.sleeps) + 2.0 * (calls["n"] - 1) == pytest.approx(30.0)
    assert isinstance(raised.value.__cause__, ConnectionError)


def test_errors_that_are_not_outages_propagate_at_once() -> None:
    time = FakeTime()
    call, calls = flaky(3, time, error=PermissionError("bad credentials"))
    with pytest.raises(PermissionError):
        ride_out(
            call, OUTAGE, "read", lambda e: not isinstance(e, PermissionError),
            sleep=time.sleep, clock=time.clock,
        )  # fmt: skip
    assert calls["n"] == 1 and time.sleeps == []


def test_a_zero_budget_means_no_retry() -> None:
    time = FakeTime()
    call, calls = flaky(1, time)
    no_wait = Outage("lake", "s3://b/lake", 0.0, "LAKE_OUTAGE_TOLERANCE")
    with pytest.raises(OutageTooLongError, match="LAKE_OUTAGE_TOLERANCE=0s"):
        ride_out(call, no_wait, "append", lambda e: True, sleep=time.sleep, clock=time.clock)
    assert calls["n"] == 1


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("3 minutes", 180.0), ("30 seconds", 30.0), ("1.5 s", 1.5), ("500 ms", 0.5), ("90", 90.0)],
)
def test_durations(text: str, seconds: float) -> None:
    assert duration_seconds(text) == seconds


def test_an_unreadable_tolerance_fails_at_start_up() -> None:
    with pytest.raises(ValueError, match="3 minutes"):
        Settings(kafka_outage_tolerance="soon")


def test_the_jvm_source_options_span_the_same_budget() -> None:
    settings = Settings(kafka_bootstrap_servers="b:9092", kafka_outage_tolerance="3 minutes")
    options = kafka_stream_options(settings, ["t"])
    assert {k: options[k] for k in jvm_kafka_outage_options(180)} == {
        "fetchOffset.numRetries": "1",
        "fetchOffset.retryIntervalMs": "1000",
        "kafka.default.api.timeout.ms": "180000",
        "kafka.request.timeout.ms": "30000",
        "kafka.reconnect.backoff.max.ms": "10000",
        "kafkaConsumer.pollTimeoutMs": "180000",
    }


@pytest.mark.parametrize(("budget_s", "api_ms", "poll_ms"), [(2, 5000, 30000), (8, 8000, 30000),
                         (600, 600000, 600000)])  # fmt: skip
def test_every_client_call_waits_the_budget_and_no_longer(
    budget_s: int, api_ms: int, poll_ms: int
) -> None:
    options = jvm_kafka_outage_options(budget_s)
    assert int(options["kafka.default.api.timeout.ms"]) == api_ms
    assert int(options["kafkaConsumer.pollTimeoutMs"]) == poll_ms
    assert int(options["kafka.request.timeout.ms"]) <= api_ms


KAFKA_TIMEOUT = """org.apache.spark.SparkException: Job aborted.
Caused by: org.apache.kafka.common.errors.TimeoutException: Timeout of 5000ms expired before \
the position for partition away.sales-0 could be determined
\tat org.apache.kafka.clients.consumer.internals.ClassicKafkaConsumer.position(...)"""


def test_a_kafka_timeout_from_the_connector_reads_as_an_outage_past_the_budget() -> None:
    settings = Settings(kafka_bootstrap_servers="b:9092", kafka_outage_tolerance="8 seconds")
    reason = kafka_outage_reason(KAFKA_TIMEOUT, settings)
    assert reason is not None and "\n" not in reason
    assert reason.startswith("kafka at b:9092 unreachable")
    assert "longer than KAFKA_OUTAGE_TOLERANCE=8s" in reason and "restart the job" in reason
    assert "Timeout of 5000ms expired" in reason


def test_other_failures_are_not_called_outages() -> None:
    settings = Settings(kafka_bootstrap_servers="b:9092")
    assert kafka_outage_reason("org.apache.spark.sql.AnalysisException: boom", settings) is None
