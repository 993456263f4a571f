"""A single-node Apache Kafka broker on loopback for laptops, the demo, the bench and tests.

It is Apache Kafka itself (KRaft mode: the broker is its own controller), run from the
jars `make install` fetched into `.jvm/kafka`. Its log lives in a data directory, so a
broker stopped or killed and started again on the same directory keeps its topics and
offsets. Production points KAFKA_BOOTSTRAP_SERVERS at a real cluster instead; nothing
else in the pipeline knows which broker it talks to.
"""

from __future__ import annotations

import ctypes
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

from retail_lakehouse.jvm import kafka_classpath
from retail_lakehouse.logs import kv

log = logging.getLogger(__name__)

DEFAULT_HEAP = "512m"  # beside a 2 GB Spark driver on a laptop; Kafka's scripts take 1 GB
_READY_TIMEOUT_S = 90.0  # a cold JVM on a loaded 2-core machine


class BrokerUnavailableError(RuntimeError):
    """The local broker could not be started, or stopped answering."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def _dies_with_this_process() -> Callable[[], None] | None:
    """A pre-exec hook that has the kernel SIGKILL the broker when its parent dies, so
    a `kill -9` of the demo or of a test run does not leave a JVM behind (its log is on
    disk: a restart recovers it). The kernel ties the signal to the *thread* that
    forked, so it is only asked for from the main thread, which lives as long as the
    process; elsewhere, and off Linux, the broker is stopped by `stop()` alone."""
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


def server_properties(data_dir: Path, port: int, controller_port: int) -> str:
    """A single-node KRaft configuration: one broker that is also the controller, and
    replication factor 1 for Kafka's own internal topics."""
    return "\n".join(
        [
            "process.roles=broker,controller",
            "node.id=1",
            f"controller.quorum.bootstrap.servers=127.0.0.1:{controller_port}",
            f"listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}",
            f"advertised.listeners=PLAINTEXT://127.0.0.1:{port}",
            "controller.listener.names=CONTROLLER",
            "inter.broker.listener.name=PLAINTEXT",
            "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            f"log.dirs={data_dir / 'log'}",
            "num.partitions=3",
            "offsets.topic.replication.factor=1",
            "transaction.state.log.replication.factor=1",
            "transaction.state.log.min.isr=1",
            "share.coordinator.state.topic.replication.factor=1",
            "share.coordinator.state.topic.min.isr=1",
            # a consumer group in a test or the bench need not wait 3 s for others
            "group.initial.rebalance.delay.ms=0",
            "",
        ]
    )


_LOG4J2 = """\
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = file
appender.file.type = File
appender.file.name = file
appender.file.fileName = {log_path}
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
logger.kafka.name = kafka
logger.kafka.level = INFO
logger.state.name = state.change.logger
logger.state.level = WARN
"""


class LocalKafka:
    """Start with `with LocalKafka() as broker:`; `broker.bootstrap_servers` to connect.

    `data_dir` keeps the log (formatted on first start); None means a temporary folder
    deleted by `stop()`. A stopped broker starts again on the same ports and data.
    """

    def __init__(
        self,
        port: int | None = None,
        data_dir: Path | None = None,
        log_path: Path | None = None,
        heap: str = DEFAULT_HEAP,
    ) -> None:
        self.port = port or free_port()
        self.controller_port = free_port()
        self._owns_data = data_dir is None
        self.data_dir = (
            Path(tempfile.mkdtemp(prefix="local-kafka-")) if data_dir is None else data_dir
        ).resolve()
        self.log_path = (log_path or self.data_dir / "broker.log").resolve()
        self.heap = heap
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap_servers(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def start(self, timeout_s: float = _READY_TIMEOUT_S) -> LocalKafka:
        java = shutil.which("java")
        if java is None:
            raise BrokerUnavailableError(
                "no `java` on PATH: the local Kafka broker needs Java 17 or newer; install it, "
                "or set KAFKA_BOOTSTRAP_SERVERS to a running Kafka cluster"
            )
        classpath = kafka_classpath()
        properties = self._write_config()
        if not (self.data_dir / "log" / "meta.properties").exists():
            self._format(java, classpath, properties)
        command = [
            java,
            f"-Xmx{self.heap}",
            "-Xms128m",
            "-XX:+UseG1GC",
            "-XX:MaxGCPauseMillis=20",
            "-XX:+ExitOnOutOfMemoryError",
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={self.data_dir / 'log4j2.properties'}",
            "-cp",
            classpath,
            "kafka.Kafka",
            str(properties),
        ]
        self._process = subprocess.Popen(
            command,
            stdout=subprocess.DEVNULL,
            stderr=open(self.data_dir / "broker.stderr", "ab"),  # noqa: SIM115
            start_new_session=True,
            preexec_fn=_dies_with_this_process(),
        )
        self._wait_until_ready(timeout_s)
        log.info(
            kv(
                "broker_started",
                bootstrap_servers=self.bootstrap_servers,
                pid=self._process.pid,
                data_dir=self.data_dir,
            )
        )
        return self

    def _write_config(self) -> Path:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        (self.data_dir / "log4j2.properties").write_text(_LOG4J2.format(log_path=self.log_path))
        properties = self.data_dir / "server.properties"
        properties.write_text(server_properties(self.data_dir, self.port, self.controller_port))
        return properties

    def _format(self, java: str, classpath: str, properties: Path) -> None:
        """Give a new data directory its cluster id (Kafka's `kafka-storage.sh format`)."""
        cluster_id = _kafka_uuid()  # may begin with "-": passed as --cluster-id=<id>
        result = subprocess.run(
            [
                java,
                "-Xmx256m",
                "-cp",
                classpath,
                "kafka.tools.StorageTool",
                "format",
                "--standalone",
                f"--cluster-id={cluster_id}",
                "-c",
                str(properties),
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
        if result.returncode != 0:
            raise BrokerUnavailableError(
                f"formatting the Kafka data directory {self.data_dir} failed: "
                f"{(result.stderr or result.stdout).strip().splitlines()[-1:]}"
            )

    def _wait_until_ready(self, timeout_s: float) -> None:
        from confluent_kafka.admin import AdminClient

        deadline = time.monotonic() + timeout_s
        last_error: Exception | None = None
        admin = AdminClient({"bootstrap.servers": self.bootstrap_servers, "log_level": 0})
        while time.monotonic() < deadline:
            if self.exited():
                code = self._process.returncode if self._process else None
                raise BrokerUnavailableError(
                    f"the local Kafka broker exited with code {code} while starting; "
                    f"its log: {self.log_path} ({self._last_log_line()})"
                )
            try:
                brokers = admin.list_topics(timeout=2).brokers
                if brokers:
                    return
            except Exception as exc:  # still starting
                last_error = exc
            time.sleep(0.2)
        self.stop()
        raise BrokerUnavailableError(
            f"the local Kafka broker did not answer on {self.bootstrap_servers} within "
            f"{timeout_s:.0f}s ({last_error}); its log: {self.log_path}"
        )

    def _last_log_line(self) -> str:
        for path in (self.data_dir / "broker.stderr", self.log_path):
            try:
                lines = [line for line in path.read_text().splitlines() if line.strip()]
            except OSError:
                continue
            errors = [line for line in lines if "ERROR" in line or "Exception" in line]
            if errors or lines:
                return (errors or lines)[-1][:300]
        return "empty"

    def exited(self) -> bool:
        return self._process is not None and self._process.poll() is not None

    def stop(self, timeout_s: float = 20.0) -> None:
        """A controlled shutdown (SIGTERM), a kill after `timeout_s`."""
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(timeout=10)
            log.info(kv("broker_stopped", bootstrap_servers=self.bootstrap_servers))
        self._process = None

    def close(self) -> None:
        """Stop, and delete a temporary data directory."""
        self.stop()
        if self._owns_data:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    def __enter__(self) -> LocalKafka:
        try:
            return self.start()
        except BaseException:
            self.close()  # a temporary data directory must not outlive a failed start
            raise

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _kafka_uuid() -> str:
    """A cluster id as Kafka writes them: 16 random bytes, URL-safe base64, no padding."""
    import base64

    return base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")


def run_until_interrupted(port: int | None = None, data_dir: Path | None = None) -> None:
    """`lakehouse broker`: start the broker, print the address to export, wait for
    Ctrl-C or SIGTERM, then stop it (its data stays in `data_dir`)."""
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    with LocalKafka(port=port, data_dir=data_dir) as broker:
        print(
            f"Apache Kafka (single node, KRaft) listening on {broker.bootstrap_servers}\n"
            f"Data: {broker.data_dir} (kept across restarts); log: {broker.log_path}\n"
            f"In other terminals: export KAFKA_BOOTSTRAP_SERVERS={broker.bootstrap_servers}\n"
            "Then `lakehouse topics`, `lakehouse produce --events 10000`, `lakehouse stream`. "
            "Ctrl-C stops the broker.",
            flush=True,
        )
        while not stop.wait(0.5):
            if broker.exited():
                raise BrokerUnavailableError(
                    f"the local Kafka broker exited unexpectedly (log: {broker.log_path}): "
                    "restart `lakehouse broker`"
                )
    print("broker stopped", flush=True)
