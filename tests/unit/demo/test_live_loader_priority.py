"""The demo's live loader runs at a lower CPU priority than the streams beside it."""

from __future__ import annotations

import os

import psutil
import pytest

from mock.live_loader import LOADER_NICENESS, LiveLoader
from retail_lakehouse.settings import Settings


def test_the_live_loader_process_yields_the_cpu_to_the_streams(tmp_path) -> None:
    if os.getpriority(os.PRIO_PROCESS, 0) >= LOADER_NICENESS:
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
        assert child.nice() == LOADER_NICENESS
    finally:
        loader.close()
