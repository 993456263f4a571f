"""`make airflow`'s watch on a real `airflow standalone`: when its API server cannot
bind its port (the README once suggested a port Airflow's log server holds), the start
stops with one line naming the part and the reason, instead of waiting forever."""

from __future__ import annotations

import os
import socket
import time

import pytest

from mock.airflow_local import AirflowStartError, LocalAirflow

pytestmark = pytest.mark.integration


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_an_api_server_that_cannot_bind_stops_the_start_in_one_line(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")} | {
        "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(_free_port()),
        "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(_free_port()),
    }
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with (tmp_path / "standalone.log").open("wb") as log:
            airflow = LocalAirflow(tmp_path / "home", port, env=env, output=log)
            started = time.monotonic()
            try:
                # past the pre-check, as if the port was taken after it
                airflow.start(check_ports=False)
                with pytest.raises(AirflowStartError) as stopped:
                    airflow.wait_healthy(timeout_s=300)
            finally:
                airflow.stop()
    message = str(stopped.value)
    assert "\n" not in message
    assert message.startswith("Airflow's api-server ")
    assert "address already in use" in message or f"port {port} is in use" in message
    assert time.monotonic() - started < 240
