"""A local Spark standalone cluster: a master and a worker, each its own JVM, started
with pyspark's own `spark-class`, so executors run apart from the driver as on a cluster."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class StandaloneSpark:
    def __init__(self, work_dir: Path, cores: int = 2, memory: str = "2g") -> None:
        self.work_dir = work_dir
        self.port = _free_port()
        self.cores = cores
        self.memory = memory
        self._processes: list[subprocess.Popen[bytes]] = []

    @property
    def master_url(self) -> str:
        return f"spark://127.0.0.1:{self.port}"

    def __enter__(self) -> StandaloneSpark:
        # installed beside this interpreter by the pyspark wheel
        spark_class = shutil.which("spark-class", path=str(Path(sys.executable).parent))
        assert spark_class, "pyspark's spark-class is not beside the Python running the tests"
        env = {**os.environ, "SPARK_LOCAL_IP": "127.0.0.1", "SPARK_WORKER_DIR": str(self.work_dir)}
        self.work_dir.mkdir(parents=True, exist_ok=True)
        master = [spark_class, "org.apache.spark.deploy.master.Master"]
        master += ["--host", "127.0.0.1", "--port", str(self.port)]
        master += ["--webui-port", str(_free_port())]
        self._start(master, env, "master.log")
        self._wait_for_port(self.port)
        worker = [spark_class, "org.apache.spark.deploy.worker.Worker", self.master_url]
        worker += ["--host", "127.0.0.1", "--cores", str(self.cores), "--memory", self.memory]
        worker += ["--webui-port", str(_free_port())]
        self._start(worker, env, "worker.log")
        self._wait_for_log("worker.log", "Successfully registered with master")
        return self

    def _start(self, command: list[str], env: dict[str, str], log: str) -> None:
        out = open(self.work_dir / log, "wb")  # noqa: SIM115 - closed by the process's end
        self._processes.append(
            subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
        )

    def _wait_for_port(self, port: int, timeout_s: float = 120) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", port), 1):
                    return
            except OSError:
                time.sleep(0.5)
        raise TimeoutError(f"the Spark master did not listen on {port}")

    def _wait_for_log(self, log: str, text: str, timeout_s: float = 120) -> None:
        deadline = time.monotonic() + timeout_s
        path = self.work_dir / log
        while time.monotonic() < deadline:
            if path.exists() and text in path.read_text(errors="replace"):
                return
            time.sleep(0.5)
        raise TimeoutError(f"{log} never said {text!r}: {path.read_text(errors='replace')[-2000:]}")

    def executor_log(self) -> str:
        """What the executors wrote (stderr of every executor of every app)."""
        return "\n".join(p.read_text(errors="replace") for p in self.work_dir.rglob("stderr"))

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        for process in reversed(self._processes):
            process.terminate()
        for process in self._processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
