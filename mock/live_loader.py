"""The demo's live loader: `lakehouse load --follow` as a child process beside the
streams, stopped once it has taken in what the streams wrote, with its report.

A process of its own: the emulated warehouse is a DuckDB file that one process holds
while it writes, and the follower's dbt runs stay out of the Spark driver's process.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from retail_lakehouse.settings import Settings
from retail_lakehouse.warehouse import emulator_path

# The loader and its dbt runs yield the CPU to the streams they share the laptop with:
# marts trail the lake by a load cycle anyway, while a micro-batch waiting for a core
# adds straight to produce-to-gold latency. In a deployment they run on other machines.
# Linux's SCHED_IDLE runs the loader only on a core the streams leave idle; a niceness
# of 10 still gave it about a tenth of a contended core (demo steady-state p95 2.22 s
# against 2.05 s, and 1.85 s with no loader at all). Elsewhere: niceness 10.
LOADER_POLICY = getattr(os, "SCHED_IDLE", None)
LOADER_NICENESS = 10


class LiveLoader:
    """Start with `start()`; `stop()` waits until the marts count every sale it landed
    (or `settle_s` passes), interrupts it, and returns its report."""

    def __init__(self, settings: Settings, outputs: Path) -> None:
        self.settings = settings
        self.report_path = outputs / "follow_report.json"
        self.log_path = outputs / "follow.log"
        self.process: subprocess.Popen[bytes] | None = None

    def environment(self) -> dict[str, str]:
        env = dict(os.environ)
        env["LAKE_ROOT"] = self.settings.resolved_lake_root
        env["LOADER_FOLLOW_INTERVAL_S"] = str(self.settings.loader_follow_interval_s)
        if self.settings.uses_warehouse_emulator:
            env["WAREHOUSE_EMULATOR_PATH"] = str(emulator_path(self.settings))
        return env

    def start(self, measured_from: datetime | None = None) -> LiveLoader:
        """`measured_from`: sales produced before it are loaded, not measured."""
        self.report_path.unlink(missing_ok=True)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        command = [sys.executable, "-m", "lakehouse_cli", "load", "--follow", "--no-progress",
                   "--report", str(self.report_path)]  # fmt: skip
        if measured_from is not None:
            utc = measured_from.astimezone(UTC).replace(tzinfo=None)
            command += ["--measured-from", utc.isoformat(timespec="seconds")]
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                command, env=self.environment(), stdout=log, stderr=subprocess.STDOUT
            )
        _lower_priority(self.process.pid)
        return self

    def wait_for_first_refresh(self, timeout_s: float) -> bool:
        """Until a cycle has loaded what the lake holds and refreshed the live marts (the
        report is written at the end of each cycle); False if the loader exited first or
        `timeout_s` passed."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if (self.report() or {}).get("refreshes"):
                return True
            if self.process is None or self.process.poll() is not None:
                return False
            time.sleep(0.5)
        return False

    def report(self) -> dict[str, Any] | None:
        try:
            return dict(json.loads(self.report_path.read_text()))
        except (OSError, ValueError):
            return None

    def close(self) -> None:
        """On the way out after an error: end the child, whatever it was doing."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def stop(self, *, settle_s: float = 90.0) -> dict[str, Any] | None:
        """Let it land and count what the streams wrote (its counts stop moving over two
        cycles), then SIGINT it and return its final report."""
        if self.process is None:
            return None
        deadline = time.monotonic() + settle_s
        last: tuple[Any, ...] | None = None
        steady = 0
        while time.monotonic() < deadline and self.process.poll() is None:
            report = self.report() or {}
            now = (report.get("rows_loaded"), (report.get("freshness") or {}).get("sales"))
            steady = steady + 1 if now == last and report.get("refreshes") else 0
            if steady >= 2:
                break
            last = now
            time.sleep(max(1.0, self.settings.loader_follow_interval_s) + 1.0)
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=120)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.report()


def _lower_priority(pid: int) -> None:
    """Best effort, for each thread the child has so far (threads it starts later inherit
    the priority of the thread that starts them). Where the OS has neither, the loader
    runs at the streams' own priority."""
    for thread in _threads_of(pid):
        if not _idle_only(thread):
            with contextlib.suppress(AttributeError, OSError):
                os.setpriority(os.PRIO_PROCESS, thread, LOADER_NICENESS)


def _idle_only(thread: int) -> bool:
    if LOADER_POLICY is None:
        return False
    try:
        os.sched_setscheduler(thread, LOADER_POLICY, os.sched_param(0))
    except OSError:
        return False
    return True


def _threads_of(pid: int) -> list[int]:
    try:
        return [int(tid) for tid in os.listdir(f"/proc/{pid}/task")]
    except OSError:  # no /proc: the priority calls take the process
        return [pid]
