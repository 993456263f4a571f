"""Peak memory and CPU time of the processes a run starts, sampled with psutil:
the JVM, the Python workers, the broker and this driver process."""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field

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
    if "tansu" in name or "tansu" in cmdline:
        return "broker"
    if name.startswith("java"):
        return "jvm"
    if "python" in name:
        return "python_workers"
    return None


@dataclass
class ResourceSampler:
    """Samples every `interval_s` in a thread; `stop()` returns the figures."""

    interval_s: float = 0.5
    peak_rss_mb: dict[str, float] = field(default_factory=lambda: dict.fromkeys(KINDS, 0.0))
    _cpu_s: dict[int, tuple[str, float]] = field(default_factory=dict)
    # CPU already spent when the run began (the broker and JVM outlive one scenario)
    _cpu_before: dict[int, float] = field(default_factory=dict)
    _first: bool = True
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

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
        me = psutil.Process(os.getpid())
        rss = dict.fromkeys(KINDS, 0.0)
        for process in [me, *me.children(recursive=True)]:
            kind = kind_of(process, me.pid)
            if kind is None:
                continue
            try:
                with process.oneshot():
                    rss[kind] += process.memory_info().rss / 2**20
                    times = process.cpu_times()
                    self._cpu_s[process.pid] = (kind, times.user + times.system)
                    if self._first:
                        self._cpu_before[process.pid] = times.user + times.system
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
        self._first = False
        for kind, value in rss.items():
            self.peak_rss_mb[kind] = max(self.peak_rss_mb[kind], value)

    def stop(self) -> dict[str, dict[str, float]]:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.sample()
        cpu = dict.fromkeys(KINDS, 0.0)
        for pid, (kind, seconds) in self._cpu_s.items():
            cpu[kind] += seconds - self._cpu_before.get(pid, 0.0)
        return {
            "peak_rss_mb": {k: round(v, 1) for k, v in self.peak_rss_mb.items()},
            "cpu_s": {k: round(v, 1) for k, v in cpu.items()},
        }
