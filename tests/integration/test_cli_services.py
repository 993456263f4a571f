"""`lakehouse broker`, and the failures that need a live service to happen (a topic
missing on a real broker, S3 refusing credentials), through the real command."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_runner import LAKEHOUSE, assert_two_line_error, clean_env, lakehouse
from confluent_kafka.admin import AdminClient

from mock.kafka_broker import LocalKafka

pytestmark = pytest.mark.integration


def test_broker_command_serves_until_interrupted(tmp_path: Path) -> None:
    process = subprocess.Popen(
        [LAKEHOUSE, "broker"], cwd=tmp_path, env=clean_env(), stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        data = process.stdout.readline()
        second = process.stdout.readline()
        assert first.startswith("Apache Kafka (single node, KRaft) listening on"), first
        assert data.startswith(f"Data: {tmp_path / 'kafka_data'} (kept across restarts)"), data
        assert (tmp_path / "kafka_data" / "log" / "meta.properties").exists()
        assert second.strip().startswith("In other terminals: export KAFKA_BOOTSTRAP_SERVERS=")
        address = second.strip().rsplit("=", 1)[1]
        # the printed address serves the project's own commands
        created = lakehouse("topics", cwd=tmp_path, KAFKA_BOOTSTRAP_SERVERS=address)
        assert created.code == 0, created
        assert created.stdout.split() == [
            "retail.sales.transactions", "retail.clickstream.events", "retail.inventory.events"
        ]  # fmt: skip
        topics = AdminClient({"bootstrap.servers": address}).list_topics(timeout=10).topics
        assert "retail.sales.transactions" in topics
    finally:
        process.send_signal(signal.SIGINT)
        out, _ = process.communicate(timeout=60)
    assert process.returncode == 0
    assert "broker stopped" in out


@pytest.fixture(scope="module")
def broker() -> Iterator[LocalKafka]:
    with LocalKafka() as running:
        yield running


def test_stream_on_a_missing_topic_says_how_to_create_it(
    tmp_path: Path, broker: LocalKafka
) -> None:
    out = lakehouse("stream", cwd=tmp_path, KAFKA_BOOTSTRAP_SERVERS=broker.bootstrap_servers,
                    TOPIC_SALES="no.such.topic", LAKE_ROOT=str(tmp_path / "lake"))  # fmt: skip
    assert_two_line_error(out, 1, "'no.such.topic'", f"missing on {broker.bootstrap_servers}")
    assert "lakehouse topics" in out.stderr


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def strict_s3() -> Iterator[str]:
    """moto's S3 server with authentication on: unknown keys are refused (403)."""
    port = free_port()
    env = {**os.environ, "INITIAL_NO_AUTH_ACTION_COUNT": "0"}
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.2)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_refused_s3_credentials_are_named_without_the_secret(
    tmp_path: Path, strict_s3: str
) -> None:
    secret = "do-not-print-this-secret"
    out = lakehouse("demo", "--events", "10", cwd=tmp_path, LAKE_ROOT="s3://lake/demo",
                    AWS_ENDPOINT_URL=strict_s3, AWS_ACCESS_KEY_ID="AKIAUNKNOWN",
                    AWS_SECRET_ACCESS_KEY=secret, AWS_ALLOW_HTTP="true")  # fmt: skip
    assert_two_line_error(out, 1, "S3 refused the credentials for bucket lake",
                          "InvalidAccessKeyId")  # fmt: skip
    assert "AWS_SECRET_ACCESS_KEY" in out.stderr
    assert secret not in out.stderr
