"""`make airflow`: Airflow standalone on this machine, serving the project's DAG folder.

AIRFLOW_HOME is `.airflow/` in the repo (git-ignored): its SQLite database, logs and
the generated admin password live there. The lake, the warehouse emulator and the CSV
are pinned to absolute paths in the repo, because Airflow runs tasks from its own
working directory. The UI-path test starts the same thing in a temporary home.

Before it starts, the API port and Airflow's own log-server ports (8793, 8794) must be
free and distinct; while it runs, a part of Airflow that stops (or says it cannot bind
its port) stops everything with one line naming the part and its reason.

    python -m mock.airflow_local [--port 8080] [--home .airflow]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import deque
from pathlib import Path
from typing import IO, Any

import httpx

REPO = Path(__file__).resolve().parent.parent
DAGS_FOLDER = REPO / "airflow" / "dags"
DAG_ID = "retail_streaming"
ADMIN = "admin"


def airflow_environment(
    home: Path, port: int, base: dict[str, str] | None = None
) -> dict[str, str]:
    """The environment Airflow and its tasks run with."""
    env = dict(os.environ if base is None else base)
    url = f"http://127.0.0.1:{port}"
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_FOLDER),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            # the default (32) starts 32 workers, about 5.5 GB
            "AIRFLOW__CORE__PARALLELISM": "4",
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(port),
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__API__BASE_URL": url,
            # tasks reach the API server here; the default assumes port 8080
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{url}/execution/",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{ADMIN}:admin",
            # a new DAG file shows up in the UI within seconds, not minutes
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "10",
            "PYSPARK_PYTHON": sys.executable,
            # the venv's `airflow` first: standalone starts its parts by that name
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
        }
    )
    for name, default in (
        ("LAKE_ROOT", "lakehouse_data"),
        ("WAREHOUSE_EMULATOR_PATH", "warehouse_data"),
        ("DAILY_KPIS_CSV", "outputs/aggregates_daily.csv"),
    ):
        value = env.get(name, default)
        if "://" not in value and not Path(value).is_absolute():
            env[name] = str(REPO / value)
    return env


class AirflowStartError(RuntimeError):
    """Airflow cannot start, or a part of it stopped; the message is one line."""


# Airflow's own listeners besides the API server, and the settings that move them
LOG_SERVER_PORTS = {
    "worker log server": ("AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT", 8793),
    "triggerer log server": ("AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT", 8794),
}
COMPONENTS = ("scheduler", "dag-processor", "api-server", "triggerer")
# what a component prints when it cannot go on
_FATAL = re.compile(r"address already in use|errno 98|could not bind|permission denied", re.I)
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def airflow_ports(env: dict[str, str], api_port: int) -> dict[str, int]:
    """Every port Airflow standalone listens on, by what listens there."""
    ports = {"API server (AIRFLOW_PORT)": api_port}
    for name, (setting, default) in LOG_SERVER_PORTS.items():
        ports[f"{name} ({setting})"] = int(env.get(setting) or default)
    return ports


def port_problem(env: dict[str, str], api_port: int) -> str | None:
    """One line when two parts would share a port or a port is taken; else None."""
    ports = airflow_ports(env, api_port)
    by_port: dict[int, list[str]] = {}
    for name, port in ports.items():
        by_port.setdefault(port, []).append(name)
    for port, names in by_port.items():
        if len(names) > 1:
            return (
                f"port {port} is wanted by both the {' and the '.join(names)}; "
                "choose another AIRFLOW_PORT, e.g. `make airflow AIRFLOW_PORT=8080`"
            )
    for name, port in ports.items():
        if not _is_free(port):
            return (
                f"port {port} for Airflow's {name} is already in use; stop what listens "
                f"there (`ss -ltnp 'sport = :{port}'`) or choose another port"
            )
    return None


def _is_free(port: int) -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("0.0.0.0", port))  # noqa: S104 (a probe: bound and closed at once)
        except OSError:
            return False
    return True


def _alive(pid: int) -> bool:
    import psutil

    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


class ComponentWatch:
    """Reads `airflow standalone`'s output ("<component> | <line>"): keeps each
    component's last lines and notices the one that says it cannot go on."""

    def __init__(self) -> None:
        self.last: dict[str, deque[str]] = {name: deque(maxlen=20) for name in COMPONENTS}
        self.failure: str | None = None

    def feed(self, raw: str) -> None:
        line = _ANSI.sub("", raw).rstrip()
        name, sep, text = line.partition(" | ")
        name = name.strip()
        if not sep or name not in self.last:
            return
        self.last[name].append(text)
        if self.failure is None and _FATAL.search(text):
            self.failure = f"Airflow's {name} failed to start: {text.strip()[:300]}"

    def stopped(self, name: str, port: int | None = None) -> str:
        """Why a component stopped: its port taken, else its last error line."""
        if port is not None and not _is_free(port):
            return f"Airflow's {name} stopped: its port {port} is in use by another program"
        lines = [t.strip() for t in self.last[name] if t.strip()]
        errors = [t for t in lines if "error" in t.lower() or "exception" in t.lower()]
        reason = (errors or lines or ["no output"])[-1]
        return f"Airflow's {name} stopped: {reason[:300]}"


class LocalAirflow:
    """`airflow standalone` as a child process: start, wait healthy, log in, stop."""

    def __init__(
        self,
        home: Path,
        port: int,
        *,
        env: dict[str, str] | None = None,
        output: IO[Any] | None = None,
    ) -> None:
        self.home = home
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.env = airflow_environment(home, port, env)
        self.output = output
        self.process: subprocess.Popen[bytes] | None = None
        self.watch = ComponentWatch()
        self._seen: set[str] = set()
        self._pids: dict[str, int] = {}
        self._token: str | None = None

    def check_ports(self) -> None:
        problem = port_problem(self.env, self.port)
        if problem:
            raise AirflowStartError(problem)

    def start(self, *, check_ports: bool = True) -> LocalAirflow:
        if check_ports:
            self.check_ports()
        self.home.mkdir(parents=True, exist_ok=True)
        airflow = shutil.which("airflow", path=self.env["PATH"]) or "airflow"
        self.process = subprocess.Popen(
            [airflow, "standalone"],
            env=self.env,
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # one process group: stop() ends every part
        )
        threading.Thread(target=self._relay, name="airflow-output", daemon=True).start()
        return self

    def _relay(self) -> None:
        """Every output line to `output` (the terminal by default), and to the watch."""
        assert self.process is not None and self.process.stdout is not None
        sink = self.output
        for raw in self.process.stdout:
            if sink is None:
                sys.stdout.buffer.write(raw)
                sys.stdout.flush()
            else:
                sink.write(
                    raw if "b" in getattr(sink, "mode", "b") else raw.decode(errors="replace")
                )
                sink.flush()
            self.watch.feed(raw.decode(errors="replace"))

    def check_components(self) -> None:
        """Raise AirflowStartError when standalone or one of its parts has stopped."""
        if self.process is None:
            return
        if self.process.poll() is not None:
            raise AirflowStartError(
                self.watch.failure
                or f"airflow standalone exited with code {self.process.returncode}"
            )
        if self.watch.failure:
            raise AirflowStartError(self.watch.failure)
        running = self._components()
        self._seen |= running
        gone = sorted(self._seen - running)
        if gone:
            raise AirflowStartError(self.watch.stopped(gone[0], self._port_of(gone[0])))

    def _port_of(self, component: str) -> int | None:
        """The port a component listens on (the scheduler serves task logs)."""
        if component == "api-server":
            return self.port
        log_server = {"scheduler": "worker log server", "triggerer": "triggerer log server"}
        if component not in log_server:
            return None
        setting, default = LOG_SERVER_PORTS[log_server[component]]
        return int(self.env.get(setting) or default)

    def _components(self) -> set[str]:
        """Which of Airflow's parts run now. Each is recognised once by its command line
        among standalone's children, then followed by its process id: a part may rename
        its process (the API server's uvicorn does)."""
        import psutil

        assert self.process is not None
        try:
            children = psutil.Process(self.process.pid).children(recursive=False)
        except psutil.Error:
            children = []
        for child in children:
            if child.pid in self._pids.values():
                continue
            try:
                args = child.cmdline()
            except psutil.Error:
                continue
            for name in COMPONENTS:
                if name in args[1:] and name not in self._pids:
                    self._pids[name] = child.pid
        return {name for name, pid in self._pids.items() if _alive(pid)}

    def wait_healthy(self, timeout_s: float = 180.0) -> dict[str, Any]:
        """/api/v2/monitor/health once the metadatabase and the scheduler say healthy."""
        deadline = time.monotonic() + timeout_s
        last: Any = None
        while time.monotonic() < deadline:
            self.check_components()
            try:
                health = self.get("/api/v2/monitor/health", auth=False)
                last = health
                if all(
                    (health.get(part) or {}).get("status") == "healthy"
                    for part in ("metadatabase", "scheduler")
                ):
                    return health
            except httpx.HTTPError as exc:
                last = exc
            time.sleep(1.0)
        raise AirflowStartError(
            f"Airflow at {self.url} was not healthy after {timeout_s:.0f} s (last answer: "
            f"{str(last)[:200]}); see its output above"
        )

    def password(self) -> str:
        """The admin password standalone generated into AIRFLOW_HOME."""
        path = self.home / "simple_auth_manager_passwords.json.generated"
        return str(json.loads(path.read_text())[ADMIN])

    def token(self) -> str:
        """A bearer token for the REST API, from /auth/token with the admin login."""
        if not self._token:
            response = httpx.post(
                f"{self.url}/auth/token",
                json={"username": ADMIN, "password": self.password()},
                timeout=30,
            )
            response.raise_for_status()
            self._token = str(response.json()["access_token"])
        return self._token

    def request(self, method: str, path: str, body: Any = None, *, auth: bool = True) -> Any:
        headers = {"Authorization": f"Bearer {self.token()}"} if auth else {}
        response = httpx.request(
            method, f"{self.url}{path}", json=body, headers=headers, timeout=30
        )
        response.raise_for_status()
        return response.json() if response.content else None

    def get(self, path: str, *, auth: bool = True) -> Any:
        return self.request("GET", path, auth=auth)

    def stop(self, timeout_s: float = 60.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        group = os.getpgid(self.process.pid)
        os.killpg(group, signal.SIGINT)
        try:
            self.process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(group, signal.SIGKILL)
            self.process.wait()

    def __enter__(self) -> LocalAirflow:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=int(os.environ.get("AIRFLOW_PORT", 8080)))
    parser.add_argument("--home", type=Path, default=REPO / ".airflow")
    args = parser.parse_args(argv)
    airflow = LocalAirflow(args.home.resolve(), args.port)
    try:
        airflow.start()
        airflow.wait_healthy(timeout_s=300)
        print(
            f"\n  Airflow UI: {airflow.url}/dags/{DAG_ID}\n"
            f"  login: {ADMIN} / {airflow.password()}\n"
            f"  DAG folder: {DAGS_FOLDER}\n"
            "  Trigger: the DAG page's Trigger button (optionally with params). Ctrl-C stops.\n",
            flush=True,
        )
        while True:  # until Ctrl-C, or until a part of Airflow stops
            airflow.check_components()
            time.sleep(2)
    except KeyboardInterrupt:
        pass
    except AirflowStartError as error:
        print(f"make airflow: {error}", file=sys.stderr, flush=True)
        raise SystemExit(1) from None
    finally:
        airflow.stop()


if __name__ == "__main__":
    main()
