"""`make airflow`: Airflow standalone on this machine, serving the project's DAG folder.

AIRFLOW_HOME is `.airflow/` in the repo (git-ignored): its SQLite database, logs and
the generated admin password live there. The lake, the warehouse emulator and the CSV
are pinned to absolute paths in the repo, because Airflow runs tasks from its own
working directory. The UI-path test starts the same thing in a temporary home.

    python -m mock.airflow_local [--port 8080] [--home .airflow]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time
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
        self._token: str | None = None

    def start(self) -> LocalAirflow:
        self.home.mkdir(parents=True, exist_ok=True)
        airflow = shutil.which("airflow", path=self.env["PATH"]) or "airflow"
        self.process = subprocess.Popen(
            [airflow, "standalone"],
            env=self.env,
            cwd=REPO,
            stdout=self.output,
            stderr=subprocess.STDOUT if self.output is not None else None,
            start_new_session=True,  # one process group: stop() ends every part
        )
        return self

    def wait_healthy(self, timeout_s: float = 180.0) -> dict[str, Any]:
        """/api/v2/monitor/health once the metadatabase and the scheduler say healthy."""
        deadline = time.monotonic() + timeout_s
        last: Any = None
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"airflow standalone exited with {self.process.returncode}")
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
        raise TimeoutError(f"Airflow at {self.url} not healthy after {timeout_s:.0f}s: {last}")

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
    airflow = LocalAirflow(args.home.resolve(), args.port).start()
    try:
        airflow.wait_healthy(timeout_s=300)
        print(
            f"\n  Airflow UI: {airflow.url}/dags/{DAG_ID}\n"
            f"  login: {ADMIN} / {airflow.password()}\n"
            f"  DAG folder: {DAGS_FOLDER}\n"
            "  Trigger: the DAG page's Trigger button (optionally with params). Ctrl-C stops.\n",
            flush=True,
        )
        assert airflow.process is not None
        airflow.process.wait()
    except KeyboardInterrupt:
        pass
    finally:
        airflow.stop()


if __name__ == "__main__":
    main()
