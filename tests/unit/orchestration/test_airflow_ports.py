"""`make airflow` refuses ports it cannot have, in one line, before starting anything;
and it reads a component's own words when one cannot go on."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

from mock.airflow_local import ComponentWatch, port_problem

REPO = Path(__file__).resolve().parents[3]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _log_ports() -> dict[str, str]:
    return {
        "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(_free_port()),
        "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(_free_port()),
    }


def test_the_readme_example_port_is_the_worker_log_servers():
    problem = port_problem({}, 8793)
    assert problem is not None
    assert "port 8793 is wanted by both the API server" in problem
    assert "worker log server" in problem and "AIRFLOW_PORT=8080" in problem


def test_a_taken_log_server_port_is_named():
    env = _log_ports()
    with socket.socket() as taken:
        taken.bind(("0.0.0.0", int(env["AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT"])))
        taken.listen()
        problem = port_problem(env, _free_port())
    assert problem is not None
    assert problem.startswith(f"port {env['AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT']} for ")
    assert "triggerer log server" in problem and "already in use" in problem


def test_free_distinct_ports_pass():
    assert port_problem(_log_ports(), _free_port()) is None


def test_make_airflow_on_a_taken_port_stops_in_one_line_without_starting_airflow(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")} | _log_ports()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        started = time.monotonic()
        done = subprocess.run(
            [sys.executable, "-m", "mock.airflow_local", "--port", str(port), "--home",
             str(tmp_path / "home")],
            env=env, cwd=REPO, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        f"make airflow: port {port} for Airflow's API server (AIRFLOW_PORT) is already in use; "
        f"stop what listens there (`ss -ltnp 'sport = :{port}'`) or choose another port"
    ]
    assert time.monotonic() - started < 60
    assert not (tmp_path / "home").exists()  # nothing was started


def test_a_component_that_cannot_bind_is_named_with_its_reason():
    watch = ComponentWatch()
    watch.feed("scheduler | 2026-12-04 [info] starting\n")
    assert watch.failure is None
    watch.feed(
        "\x1b[34mapi-server\x1b[0m | 2026-12-04T21:36:39Z [error    ] [Errno 98] error while "
        "attempting to bind on address ('127.0.0.1', 8793): address already in use\n"
    )
    assert watch.failure is not None
    assert watch.failure.startswith("Airflow's api-server failed to start: ")
    assert "[Errno 98]" in watch.failure
