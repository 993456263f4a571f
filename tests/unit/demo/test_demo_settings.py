"""The demo sizes Spark's heap, and the micro-batches it holds, for a laptop unless the
user chose them."""

from __future__ import annotations

import pytest

from mock.demo import DEMO_DRIVER_MEMORY, DEMO_MAX_OFFSETS_PER_TRIGGER, demo_settings
from retail_lakehouse.settings import Settings


def test_the_demo_uses_its_own_heap_when_none_is_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SPARK_DRIVER_MEMORY", raising=False)
    monkeypatch.delenv("MAX_OFFSETS_PER_TRIGGER", raising=False)
    default = Settings(_env_file=None)  # type: ignore[call-arg]
    assert default.spark_driver_memory != DEMO_DRIVER_MEMORY
    assert default.max_offsets_per_trigger > DEMO_MAX_OFFSETS_PER_TRIGGER

    demo = demo_settings(default)
    assert demo.spark_driver_memory == DEMO_DRIVER_MEMORY
    assert demo.max_offsets_per_trigger == DEMO_MAX_OFFSETS_PER_TRIGGER


def test_a_batch_cap_the_user_set_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SPARK_DRIVER_MEMORY", raising=False)
    monkeypatch.setenv("MAX_OFFSETS_PER_TRIGGER", "20000")
    demo = demo_settings(Settings(_env_file=None))  # type: ignore[call-arg]
    assert (demo.spark_driver_memory, demo.max_offsets_per_trigger) == (DEMO_DRIVER_MEMORY, 20000)


def test_a_heap_the_user_set_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPARK_DRIVER_MEMORY", "3g")
    assert demo_settings(Settings(_env_file=None)).spark_driver_memory == "3g"  # type: ignore[call-arg]
    chosen = Settings(_env_file=None, spark_driver_memory="2g")  # type: ignore[call-arg]
    assert demo_settings(chosen).spark_driver_memory == "2g"
