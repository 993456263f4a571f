"""Peak memory and CPU time of a process tree, sampled with psutil: the driver (this
process, or the demo's), the Spark JVM, its Python workers and the Kafka broker."""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import psutil

KINDS = ("jvm", "python_workers", "broker", "driver")


def kind_of(process: psutil.Process, driver_pid: int) -> str | None:
    if process.pid == driver_pid:
        return "driver"
    try:
        name = process.name().lower()
        cmdline = " ".join(process.cmdline()).lower()
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return None
    if name.startswith("java"):
        # Apache Kafka's main class, as mock/kafka_broker.py starts it
        return "broker" if " kafka.kafka " in f" {cmdline} " else "jvm"
    if "python" in name:
        return "python_workers"
    return None


@dataclass
class ResourceSampler:
    """Samples the tree under `root_pid` (default: this process) every `interval_s` in
    a thread; `stop()` returns the figures. `peak_total_mb` is the largest sum over the
    tree at one moment (not the sum of each kind's peak)."""

    interval_s: float = 0.5
    root_pid: int = field(default_factory=os.getpid)
    peak_rss_mb: dict[str, float] = field(default_factory=lambda: dict.fromkeys(KINDS, 0.0))
    peak_total_mb: float = 0.0
    # what each kind held at that moment, and when (s since start): the kinds' own peaks
    # need not fall together, so this says which of them to shrink
    peak_moment_mb: dict[str, float] = field(default_factory=lambda: dict.fromkeys(KINDS, 0.0))
    peak_at_s: float = 0.0
    _started: float = field(default_factory=time.monotonic)
    _cpu_s: dict[int, tuple[str, float]] = field(default_factory=dict)
    # CPU already spent when the run began (the broker and JVM outlive one scenario)
    _cpu_before: dict[int, float] = field(default_factory=dict)
    _first: bool = True
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> ResourceSampler:
        self.sample()
        self._thread = threading.Thread(target=self._run, name="resource-sampler", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.interval_s)

    def sample(self) -> None:
        try:
            root = psutil.Process(self.root_pid)
            tree = [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return
        rss = dict.fromkeys(KINDS, 0.0)
        with self._lock:
            for process in tree:
                kind = kind_of(process, root.pid)
                if kind is None:
                    continue
                try:
                    with process.oneshot():
                        rss[kind] += process.memory_info().rss / 2**20
                        times = process.cpu_times()
                        spent = times.user + times.system
                        self._cpu_s[process.pid] = (kind, spent)
                        if self._first:
                            self._cpu_before[process.pid] = spent
                except (psutil.NoSuchProcess, psutil.AccessDenied):
                    continue
            self._first = False
            for kind, value in rss.items():
                self.peak_rss_mb[kind] = max(self.peak_rss_mb[kind], value)
            if sum(rss.values()) > self.peak_total_mb:
                self.peak_total_mb = sum(rss.values())
                self.peak_moment_mb = rss
                self.peak_at_s = time.monotonic() - self._started

    def stop(self) -> dict[str, Any]:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.sample()
        cpu = dict.fromkeys(KINDS, 0.0)
        for pid, (kind, seconds) in self._cpu_s.items():
            cpu[kind] += seconds - self._cpu_before.get(pid, 0.0)
        return {
            "peak_rss_mb": {k: round(v, 1) for k, v in self.peak_rss_mb.items()},
            "peak_total_rss_mb": round(self.peak_total_mb, 1),
            "at_peak_rss_mb": {k: round(v, 1) for k, v in self.peak_moment_mb.items()},
            "peak_at_s": round(self.peak_at_s, 1),
            "cpu_s": {k: round(v, 1) for k, v in cpu.items()},
        }
