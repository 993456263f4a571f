"""Outage drills on the real embedded broker and moto's S3 server.

While events flow at a steady rate: the broker is frozen (SIGSTOP) for 30 s, or the
S3 server is stopped for 30 s, and the job must stay up, catch up and end with every
table equal to expectations computed independently from the messages sent. A broker
kept away past KAFKA_OUTAGE_TOLERANCE must stop the job with one clear line and exit
code 1, and a restart must resume with nothing lost or doubled; so must a micro-batch
whose results are bigger than the driver takes (SPARK_MAX_RESULT_SIZE).

Each drill prints `outage_drill kind=... outage_s=... catch_up_s=...` (run with -s).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import boto3
import pytest
from lakehouse_expectations import (
    assert_table_equals,
    expected_quarantine,
    expected_sales_lines,
    gold_sales_by_product,
    gold_sales_by_store,
    read_table,
    sales_lines_table,
    unique_valid_events,
    wait_until,
)
from moto.server import ThreadedMotoServer

from mock.kafka_broker import LocalKafka, free_port
from producer.catalog import build_catalog
from producer.clock import SimulatedClock
from producer.faults import FaultConfig
from producer.kafka_publisher import KafkaPublisher, PublishResult, producer_config
from producer.messages import OutboundMessage
from producer.reference_tables import write_reference_tables
from producer.stream import generate_messages
from producer.topics import ensure_topics
from retail_lakehouse import tables
from retail_lakehouse.settings import Settings
from spark_streaming.streams import RunningPipeline, start_pipeline, stop_pipeline

pytestmark = pytest.mark.integration

OUTAGE_S = 30.0
RATE = 50  # messages/s, steady (the drills share a 2-core host)
START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
FAULTS = FaultConfig(duplicate_rate=0.03, malformed_rate=0.03)
# one family keeps the drills light on a shared 2-core machine; every family's query
# goes through the same source and writer code
FAMILY = "sales"


def drill_settings(root: Path, broker: LocalKafka, name: str, **overrides) -> Settings:
    values: dict[str, object] = {
        "kafka_bootstrap_servers": broker.bootstrap_servers,
        "lake_root": str(root / "lake"),
        "checkpoint_root": str(root / "checkpoints"),
        "topic_sales": f"{name}.sales",
        "topic_clickstream": f"{name}.clickstream",
        "topic_inventory": f"{name}.inventory",
        "trigger_interval": "500 milliseconds",
        # every event stays on time however far a partition runs ahead: simple expectations
        "watermark_delay": "1 day",
    }
    values.update(overrides)
    return Settings(**values)


def prepare(settings: Settings, seed: int) -> Iterator[OutboundMessage]:
    ensure_topics(settings)
    catalog = build_catalog(seed)
    write_reference_tables(settings, catalog)
    stream = generate_messages(
        settings,
        seed=seed,
        events=None,
        faults=FAULTS,
        clock=SimulatedClock(START),
        catalog=catalog,
    )
    return (m for m in stream if m.topic == settings.topic_sales)


class SteadyProducer:
    """Publishes at RATE from a thread; `sent` grows as messages go out."""

    def __init__(self, settings: Settings, messages: Iterator[OutboundMessage]) -> None:
        self.sent: list[OutboundMessage] = []
        self.stop = threading.Event()
        self.result: PublishResult | None = None
        self._messages = messages
        self._publisher = KafkaPublisher(producer_config(settings), rate=RATE)
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _recorded(self) -> Iterator[OutboundMessage]:
        for message in self._messages:
            self.sent.append(message)  # pulled right before it is produced
            yield message

    def _run(self) -> None:
        self.result = self._publisher.publish(self._recorded(), stop=self.stop)

    def __enter__(self) -> SteadyProducer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self._thread.join(timeout=120)


def caught_up(running: RunningPipeline, settings: Settings, sent: list) -> bool:
    wanted = Counter(m.topic for m in sent)
    return all(running.records_read(topic) >= n for topic, n in wanted.items())


def warmed_up(running: RunningPipeline, sent: list) -> bool:
    """Mid-stream: traffic is flowing and the pipeline has committed rows from it."""
    return len(sent) > RATE and running.processor.input_rows_total > 0


def assert_alive(running: RunningPipeline) -> None:
    assert running.query.isActive, running.query.exception()


def run_through_outage(
    spark, settings, messages, start_outage, end_outage, kind: str, outage_s: float = OUTAGE_S
) -> list:
    """Stream at a steady rate, cause the outage for `outage_s`, then measure the catch-up."""
    running = start_pipeline(spark, settings, [FAMILY])
    try:
        with SteadyProducer(settings, messages) as producer:
            wait_until(lambda: warmed_up(running, producer.sent), 600, "warm-up")
            time.sleep(3)
            began = time.monotonic()
            start_outage()
            try:
                time.sleep(outage_s)
                assert_alive(running)
            finally:
                end_outage()
            ended = time.monotonic()
            due = list(producer.sent)  # everything sent before the service came back
            wait_until(lambda: caught_up(running, settings, due), 600, "catch-up after outage")
            catch_up_s = time.monotonic() - ended
            time.sleep(3)  # a little steady traffic after the outage too
        assert producer.result is not None
        assert producer.result.failed == 0 and producer.result.undelivered == 0
        sent = producer.sent
        wait_until(lambda: caught_up(running, settings, sent), 600, "the last messages")
        assert_alive(running)
    finally:
        stop_pipeline(running)
    print(
        f"\noutage_drill kind={kind} outage_s={ended - began:.1f} catch_up_s={catch_up_s:.1f} "
        f"messages={len(sent)} rate={RATE}/s producer={producer.result.outages}"
    )
    return sent


def assert_lake_matches(spark, settings: Settings, sent: list[OutboundMessage]) -> None:
    """Every table of the family equals what the sent messages imply: nothing lost or
    doubled (bronze keeps every copy, silver and gold the unique valid events)."""
    stored = read_table(settings, tables.BRONZE_SALES).select(["value"])["value"].to_pylist()
    assert Counter(stored) == Counter(m.value for m in sent)
    quarantined = read_table(settings, tables.QUARANTINE).select(["topic", "raw_payload", "reason"])
    columns = (quarantined[c].to_pylist() for c in quarantined.column_names)
    assert Counter(zip(*columns, strict=True)) == expected_quarantine(sent)
    lines = sales_lines_table(expected_sales_lines(unique_valid_events(sent), set()))
    for spec, expected in (
        (tables.SILVER_SALES_LINES, lines),
        (tables.SALES_BY_PRODUCT_MINUTE, gold_sales_by_product(lines)),
        (tables.SALES_BY_STORE_MINUTE, gold_sales_by_store(lines)),
    ):
        assert expected.num_rows > 0, spec
        assert_table_equals(spark, settings, spec, expected)
    batches = read_table(settings, tables.STREAM_BATCHES)
    keys = list(
        zip(*(batches[c].to_pylist() for c in ("query_name", "batch_id", "family")), strict=True)
    )
    assert len(keys) == len(set(keys)), "a micro-batch was recorded twice"


def broker_pid(broker: LocalKafka) -> int:
    process = broker._process  # the test freezes the very process the fixture started
    assert process is not None
    return process.pid


def test_the_job_rides_out_a_frozen_broker(spark, tmp_path):
    with LocalKafka() as broker:
        settings = drill_settings(tmp_path, broker, "freeze")
        pid = broker_pid(broker)

        def freeze() -> None:
            os.kill(pid, signal.SIGSTOP)
            assert not answers(broker), "the frozen broker still answered"

        sent = run_through_outage(
            spark,
            settings,
            prepare(settings, seed=21),
            freeze,
            lambda: os.kill(pid, signal.SIGCONT),
            "broker_freeze",
        )
    assert_lake_matches(spark, settings, sent)


def test_the_job_rides_out_a_broker_killed_and_started_again(spark, tmp_path):
    """kill -9 of the broker, then the same broker (same address, same log directory)
    started again 20 s later, with delta-spark writing the lake."""
    with LocalKafka() as broker:
        settings = drill_settings(tmp_path, broker, "restart", delta_writer="delta-spark")

        def kill() -> None:
            os.kill(broker_pid(broker), signal.SIGKILL)
            wait_until(lambda: broker.exited(), 30, "the broker to die")
            assert not answers(broker), "the killed broker still answered"

        sent = run_through_outage(
            spark,
            settings,
            prepare(settings, seed=24),
            kill,
            broker.start,
            "broker_restart",
            outage_s=20.0,
        )
    assert_lake_matches(spark, settings, sent)


def answers(broker: LocalKafka) -> bool:
    """Whether the broker answers a metadata request within 3 s."""
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({"bootstrap.servers": broker.bootstrap_servers, "log_level": 0})
    try:
        return bool(admin.list_topics(timeout=3).brokers)
    except Exception:
        return False


class RestartableS3:
    """moto's S3 server on a fixed port that can be stopped and started again; its
    buckets live in the process, so they survive the restart like a real store's."""

    def __init__(self) -> None:
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self._server: ThreadedMotoServer | None = None

    def start(self) -> None:
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        self._server.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None

    def stop_and_check(self) -> None:
        self.stop()
        import socket

        with pytest.raises(OSError), socket.create_connection(("127.0.0.1", self.port), 2):
            pass  # the store really refuses connections now


def test_the_job_rides_out_an_s3_outage(spark, tmp_path):
    s3 = RestartableS3()
    s3.start()
    try:
        boto3.client(
            "s3",
            endpoint_url=s3.endpoint,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            region_name="us-east-1",
        ).create_bucket(Bucket="outage-lake")
        with LocalKafka() as broker:
            settings = drill_settings(
                tmp_path,
                broker,
                "s3down",
                lake_root="s3://outage-lake/lake",
                aws_endpoint_url=s3.endpoint,
                aws_access_key_id="testing",
                aws_secret_access_key="testing",
                aws_allow_http=True,
            )
            sent = run_through_outage(
                spark, settings, prepare(settings, seed=22), s3.stop_and_check, s3.start, "s3_down"
            )
        assert_lake_matches(spark, settings, sent)
    finally:
        s3.stop()


def run_job(
    settings: Settings, log_path: Path, *extra: str, **env_overrides: str
) -> subprocess.Popen:
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers or "",
        "LAKE_ROOT": settings.lake_root,
        "CHECKPOINT_ROOT": settings.checkpoint_root or "",
        "TOPIC_SALES": settings.topic_sales,
        "TOPIC_CLICKSTREAM": settings.topic_clickstream,
        "TOPIC_INVENTORY": settings.topic_inventory,
        "TRIGGER_INTERVAL": settings.trigger_interval,
        "WATERMARK_DELAY": settings.watermark_delay,
        "KAFKA_OUTAGE_TOLERANCE": settings.kafka_outage_tolerance,
        "SPARK_MASTER": "local[2]",
        "SPARK_DRIVER_MEMORY": "1g",
        "PYSPARK_PYTHON": sys.executable,
        **env_overrides,
    }
    command = [sys.executable, "-m", "spark_streaming.main", "--families", FAMILY, *extra]
    with open(log_path, "w") as log:
        return subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)


def test_a_broker_away_past_the_budget_stops_the_job_and_a_restart_resumes(spark, tmp_path):
    with LocalKafka() as broker:
        settings = drill_settings(tmp_path, broker, "away", kafka_outage_tolerance="8 seconds")
        messages = prepare(settings, seed=23)
        first = [next(messages) for _ in range(1500)]
        publisher = KafkaPublisher(producer_config(settings))
        assert publisher.publish(first).failed == 0
        job_log = tmp_path / "job.log"
        job = run_job(settings, job_log)
        pid = broker_pid(broker)
        try:
            wait_until(
                lambda: "event=batch_committed" in job_log.read_text(),
                240,
                "the first batches",
            )
            time.sleep(2)
            os.kill(pid, signal.SIGSTOP)
            frozen = time.monotonic()
            try:
                code = job.wait(timeout=180)
                stopped_after_s = time.monotonic() - frozen
            finally:
                os.kill(pid, signal.SIGCONT)
        finally:
            if job.poll() is None:
                job.kill()
        output = job_log.read_text()
        errors = [line for line in output.splitlines() if line.startswith("ERROR: ")]
        assert code == 1, output[-3000:]
        assert len(errors) == 1, output[-3000:]
        assert "stream failed: kafka at " + broker.bootstrap_servers in errors[0]
        assert "longer than KAFKA_OUTAGE_TOLERANCE=8s" in errors[0]
        assert "restart the job" in errors[0]
        # the connector's retries and timeouts span the budget, not Spark's defaults
        assert stopped_after_s < 90, stopped_after_s
        print(f"\noutage_drill kind=broker_away_past_budget budget_s=8 stopped_after_s="
              f"{stopped_after_s:.1f}")  # fmt: skip

        second = [next(messages) for _ in range(1500)]
        assert publisher.publish(second).failed == 0
        restarted = run_job(settings, tmp_path / "restart.log", "--until-idle", "5")
        assert restarted.wait(timeout=400) == 0, (tmp_path / "restart.log").read_text()[-3000:]
    assert_lake_matches(spark, settings, first + second)


def test_a_batch_too_big_for_the_driver_stops_the_job_and_a_larger_limit_resumes(spark, tmp_path):
    """The driver holds a micro-batch's results; one bigger than SPARK_MAX_RESULT_SIZE
    is refused by Spark before it could run the heap out, and the job stops with one line
    saying what to do. Doing it resumes with nothing lost or doubled."""
    with LocalKafka() as broker:
        settings = drill_settings(tmp_path, broker, "oversized")
        messages = prepare(settings, seed=24)
        first = [next(messages) for _ in range(3000)]  # about 3 MB of results as Arrow
        publisher = KafkaPublisher(producer_config(settings))
        assert publisher.publish(first).failed == 0
        job_log = tmp_path / "job.log"
        job = run_job(settings, job_log, SPARK_MAX_RESULT_SIZE="1m")
        try:
            code = job.wait(timeout=300)
        finally:
            if job.poll() is None:
                job.kill()
        output = job_log.read_text()
        # the fault happened: Spark itself refused the batch's results
        assert "is bigger than spark.driver.maxResultSize (1024.0 KiB)" in output, output[-3000:]
        assert "event=batch_committed" not in output, output[-3000:]
        errors = [line for line in output.splitlines() if line.startswith("ERROR: ")]
        assert code == 1, output[-3000:]
        assert len(errors) == 1, output[-3000:]
        assert "bigger than spark.driver.maxResultSize (1024.0 KiB)" in errors[0]
        assert "restart with a larger SPARK_MAX_RESULT_SIZE" in errors[0]
        assert "MAX_OFFSETS_PER_TRIGGER (now 100000)" in errors[0]

        second = [next(messages) for _ in range(1500)]
        assert publisher.publish(second).failed == 0
        restart_log = tmp_path / "restart.log"
        restarted = run_job(
            settings,
            restart_log,
            "--until-idle",
            "5",
            SPARK_MAX_RESULT_SIZE="64m",
            MAX_OFFSETS_PER_TRIGGER="1000",
        )
        assert restarted.wait(timeout=400) == 0, restart_log.read_text()[-3000:]
        # the refused batch ran again whole, then the cap sized the ones after it
        assert restart_log.read_text().count("event=batch_committed") >= 3
    assert_lake_matches(spark, settings, first + second)
