"""Failures a user can cause, driven through the real `lakehouse` command: two lines
(what happened, what to do), a non-zero exit, a traceback only with DEBUG."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest
from cli_runner import assert_two_line_error, lakehouse

from lakehouse_cli.main import app


def closed_port() -> int:
    """A loopback port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_help_lists_every_command_with_a_purpose(tmp_path: Path) -> None:
    out = lakehouse("--help", cwd=tmp_path)
    assert out.code == 0
    names = [c.name or c.callback.__name__ for c in app.registered_commands]
    assert "broker" in names
    for name in names:
        rows = [line for line in out.stdout.splitlines() if f" {name} " in line]
        assert rows, f"{name} missing from --help"
        purpose = rows[0].split(f" {name} ", 1)[1].strip(" │")
        assert len(purpose) > 10, f"{name} has no one-line purpose"


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["demo", "--events", "-5"], "Invalid value for '--events'"),
        (["demo", "--rate", "fast"], "Invalid value for '--rate'"),
        (["produce", "--events", "0"], "Invalid value for '--events'"),
        (["stream", "--families", "shoes"], "unknown family in 'shoes'"),
        (["demo", "--bogus"], "No such option: --bogus"),
    ],
)
def test_a_bad_option_value_is_named(tmp_path: Path, args: list[str], fragment: str) -> None:
    out = lakehouse(*args, cwd=tmp_path)
    assert_two_line_error(out, 2, fragment)
    assert f"see `lakehouse {args[0]} --help`" in out.stderr


@pytest.mark.parametrize("command", [["produce", "--events", "10"], ["stream"], ["topics"]])
def test_an_unreachable_broker_fails_fast_without_client_spam(
    tmp_path: Path, command: list[str]
) -> None:
    address = f"127.0.0.1:{closed_port()}"
    started = time.monotonic()
    out = lakehouse(*command, cwd=tmp_path, KAFKA_BOOTSTRAP_SERVERS=address)
    assert_two_line_error(out, 1, f"no Kafka broker answered at {address}")
    assert "lakehouse broker" in out.stderr
    assert time.monotonic() - started < 60  # a 5 s probe plus start-up, not minutes
    assert "rdkafka" not in out.stderr.lower() and "java" not in out.stderr.lower()


def test_a_missing_broker_address_says_how_to_get_one(tmp_path: Path) -> None:
    out = lakehouse("produce", "--events", "10", cwd=tmp_path)
    assert_two_line_error(out, 1, "KAFKA_BOOTSTRAP_SERVERS is not set")
    assert "lakehouse demo" in out.stderr


LOCAL_BROKER_COMMANDS = [["broker"], ["demo", "--events", "10"]]


@pytest.mark.parametrize("command", LOCAL_BROKER_COMMANDS)
def test_a_local_broker_without_java_is_named(tmp_path: Path, command: list[str]) -> None:
    no_java = tmp_path / "bin"  # a PATH with no `java` on it
    no_java.mkdir()
    out = lakehouse(*command, cwd=tmp_path, PATH=str(no_java), TMPDIR=str(tmp_path),
                    LAKE_ROOT=str(tmp_path / "lake"))  # fmt: skip
    assert_two_line_error(out, 1, "no `java` on PATH")
    assert out.stderr.splitlines()[1] == (
        "  -> the local Kafka broker needs Java 17 or newer; install it, "
        "or set KAFKA_BOOTSTRAP_SERVERS to a running Kafka cluster"
    )


@pytest.mark.parametrize("command", LOCAL_BROKER_COMMANDS)
def test_missing_jvm_jars_say_to_run_make_install(tmp_path: Path, command: list[str]) -> None:
    empty = tmp_path / "jars"  # as if `make install` never ran
    empty.mkdir()
    out = lakehouse(*command, cwd=tmp_path, JVM_JARS_DIR=str(empty), TMPDIR=str(tmp_path),
                    LAKE_ROOT=str(tmp_path / "lake"))  # fmt: skip
    assert_two_line_error(out, 1)
    assert out.stderr.splitlines() == [
        f"error: no kafka jars in {empty / 'kafka'}",
        "  -> run `make install` once (it fetches them from Maven Central with Maven into "
        ".jvm/), or point JVM_JARS_DIR at a folder that holds them",
    ]


def test_a_lake_path_that_cannot_be_written(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    out = lakehouse("demo", "--events", "10", cwd=tmp_path, LAKE_ROOT=str(blocker / "lake"))
    assert_two_line_error(out, 1, f"cannot write to LAKE_ROOT={blocker / 'lake'}")
    assert "set LAKE_ROOT to a folder you can write" in out.stderr


def test_an_invalid_setting_names_the_variable(tmp_path: Path) -> None:
    out = lakehouse("demo", cwd=tmp_path, KAFKA_SOURCE="jvm")
    assert_two_line_error(out, 1, "KAFKA_SOURCE='jvm'")


def test_debug_log_level_adds_the_traceback(tmp_path: Path) -> None:
    out = lakehouse("--log-level", "DEBUG", "produce", "--events", "10", cwd=tmp_path)
    assert out.code == 1
    assert "Traceback (most recent call last)" in out.stderr
    assert out.stderr.rstrip().splitlines()[-2].startswith("error: ")
