"""The embedded broker does not outlive a process that is killed with SIGKILL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import psutil

STARTS_A_BROKER = """
from mock.kafka_broker import LocalKafka
broker = LocalKafka().start()
print(broker._process.pid, flush=True)
import time
time.sleep(600)
"""


def alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_the_broker_dies_with_a_parent_killed_by_sigkill() -> None:
    parent = subprocess.Popen(
        [sys.executable, "-c", STARTS_A_BROKER], stdout=subprocess.PIPE, text=True
    )
    try:
        assert parent.stdout is not None
        broker_pid = int(parent.stdout.readline())
        broker = psutil.Process(broker_pid)
        assert broker.is_running() and broker.status() != psutil.STATUS_ZOMBIE
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait(timeout=10)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and alive(broker_pid):
            time.sleep(0.1)
        assert not alive(broker_pid), "the broker outlived its parent"
    finally:
        if parent.poll() is None:
            parent.kill()
