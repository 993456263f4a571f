"""The demo's live loader runs at a lower CPU priority than the streams beside it, and the
demo can wait for its first refresh."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import psutil
import pytest

from mock.live_loader import LOADER_NICENESS, LOADER_POLICY, LiveLoader
from retail_lakehouse.settings import Settings


def test_the_live_loader_process_yields_the_cpu_to_the_streams(tmp_path) -> None:
    if LOADER_POLICY is None and os.getpriority(os.PRIO_PROCESS, 0) >= LOADER_NICENESS:
        pytest.skip("these tests already run at the loader's priority or lower")
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        lake_root=str(tmp_path / "lake"),
        warehouse_emulator_path=str(tmp_path / "warehouse"),
    )
    loader = LiveLoader(settings, tmp_path / "outputs").start()
    try:
        assert loader.process is not None
        child = psutil.Process(loader.process.pid)
        # once the loader has started threads of its own (dbt's, DuckDB's), they count too
        deadline = time.monotonic() + 60
        while len(child.threads()) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
        threads = [t.id for t in child.threads()]
        assert len(threads) > 1
        if LOADER_POLICY is None:
            assert child.nice() == LOADER_NICENESS
        else:
            assert os.sched_getscheduler(0) != LOADER_POLICY  # the streams' own
            assert {os.sched_getscheduler(t) for t in threads} == {LOADER_POLICY}
    finally:
        loader.close()


def test_waiting_for_the_first_refresh_ends_when_the_report_says_so(tmp_path) -> None:
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    loader = LiveLoader(settings, tmp_path)
    # a live child that has not written its report yet: still waiting when time runs out
    loader.process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        assert loader.wait_for_first_refresh(timeout_s=1.0) is False
        loader.report_path.write_text(json.dumps({"cycles": 1, "refreshes": 0}))
        assert loader.wait_for_first_refresh(timeout_s=1.0) is False
        loader.report_path.write_text(json.dumps({"cycles": 1, "refreshes": 1}))
        assert loader.wait_for_first_refresh(timeout_s=1.0) is True
    finally:
        loader.close()


def test_waiting_stops_when_the_loader_exits_without_refreshing(tmp_path) -> None:
    loader = LiveLoader(Settings(_env_file=None), tmp_path)  # type: ignore[call-arg]
    loader.process = subprocess.Popen([sys.executable, "-c", "raise SystemExit(1)"])
    started = time.monotonic()
    assert loader.wait_for_first_refresh(timeout_s=30.0) is False
    assert time.monotonic() - started < 10
