"""The backoff-within-budget helper, with a fake clock: no sleeping, exact timings."""

from __future__ import annotations

import logging
import pickle

import pytest
from confluent_kafka import KafkaError, KafkaException

from retail_lakehouse.durations import duration_seconds
from retail_lakehouse.settings import Settings
from spark_streaming.kafka_source import (
    KafkaBrokerTimeoutError,
    KafkaSourceError,
    KafkaStreamReader,
    SourceOptions,
    is_transient_kafka_error,
)
from spark_streaming.outage import Outage, OutageTooLongError, jvm_kafka_outage_options, ride_out
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


@pytest.mark.parametrize(
    ("error", "transient"),
    [
        (KafkaException(KafkaError(KafkaError._TIMED_OUT, "Failed to get metadata")), True),
        (KafkaException(KafkaError(KafkaError._TRANSPORT)), True),
        (KafkaException(KafkaError(KafkaError._ALL_BROKERS_DOWN)), True),
        (KafkaException(KafkaError(KafkaError.SASL_AUTHENTICATION_FAILED)), False),
        (KafkaException(KafkaError(KafkaError._TIMED_OUT, fatal=True)), False),
        (KafkaBrokerTimeoutError("no offsets"), True),
        (KafkaSourceError("offsets are gone"), False),
        (ValueError("bad option"), False),
    ],
)
def test_which_kafka_errors_are_outages(error: Exception, transient: bool) -> None:
    assert is_transient_kafka_error(error) is transient


def test_the_python_source_gets_the_budget_and_carries_it_to_workers() -> None:
    settings = Settings(kafka_bootstrap_servers="b:9092", kafka_outage_tolerance="45 seconds")
    options = kafka_stream_options(settings, ["t"], "python")
    assert options["outageTolerance"] == "45 seconds"
    parsed = SourceOptions.parse(options)
    assert parsed.outage == Outage("kafka", "b:9092", 45.0, "KAFKA_OUTAGE_TOLERANCE")
    reader = pickle.loads(pickle.dumps(KafkaStreamReader(parsed)))
    assert reader.options.outage_tolerance_s == 45.0
    assert (
        SourceOptions.parse({"subscribe": "t", "kafka.bootstrap.servers": "b:1"}).outage_tolerance_s
        == 180.0
    )


def test_the_jvm_source_options_span_the_same_budget() -> None:
    settings = Settings(kafka_bootstrap_servers="b:9092", kafka_outage_tolerance="3 minutes")
    options = kafka_stream_options(settings, ["t"], "kafka")
    assert "outageTolerance" not in options  # Spark's source would not know it
    assert {k: options[k] for k in jvm_kafka_outage_options(180)} == {
        "fetchOffset.numRetries": "5",
        "fetchOffset.retryIntervalMs": "6000",
        "kafka.default.api.timeout.ms": "30000",
        "kafka.request.timeout.ms": "30000",
        "kafka.reconnect.backoff.max.ms": "10000",
        "kafkaConsumer.pollTimeoutMs": "180000",
    }


@pytest.mark.parametrize("budget_s", [5, 30, 180, 600, 3600])
def test_jvm_retries_cover_the_budget_without_overshooting_much(budget_s: int) -> None:
    options = jvm_kafka_outage_options(budget_s)
    attempt_s = int(options["kafka.default.api.timeout.ms"]) / 1000
    pause_s = int(options["fetchOffset.retryIntervalMs"]) / 1000
    waited_s = int(options["fetchOffset.numRetries"]) * (attempt_s + pause_s)
    assert budget_s <= waited_s < budget_s + attempt_s + pause_s
    assert int(options["kafkaConsumer.pollTimeoutMs"]) >= max(120_000, budget_s * 1000)
