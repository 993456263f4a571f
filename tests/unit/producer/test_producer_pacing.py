from __future__ import annotations

import pytest

from producer.pacing import Pacer


def send(pacer: Pacer, count: int, start: float = 100.0) -> float:
    """Send `count` messages on a virtual clock that sleeps exactly as told; returns the end."""
    now = start
    for _ in range(count):
        now += pacer.wait_time(now)
    return now


def test_unlimited_never_waits() -> None:
    for rate in (None, 0):
        pacer = Pacer(rate)
        assert pacer.unlimited
        assert send(pacer, 10_000) == 100.0


def test_a_burst_is_free_then_the_rate_holds() -> None:
    pacer = Pacer(100, burst=10)
    assert [pacer.wait_time(0.0) for _ in range(12)] == pytest.approx([0.0] * 10 + [0.01, 0.02])


def test_long_run_average_is_the_target_rate() -> None:
    pacer = Pacer(500, burst=50)
    end = send(pacer, 5_050, start=0.0)
    assert end == pytest.approx(10.0)  # 5,000 paced messages after a burst of 50


def test_idle_time_refills_only_up_to_the_burst() -> None:
    pacer = Pacer(10, burst=2)
    assert pacer.wait_time(0.0) == 0.0
    assert pacer.wait_time(0.0) == 0.0
    assert pacer.wait_time(0.0) == pytest.approx(0.1)
    # an hour of silence buys two free messages, not 36,000
    assert [pacer.wait_time(3600.0) for _ in range(3)] == pytest.approx([0.0, 0.0, 0.1])


def test_default_burst_is_a_tenth_of_a_second() -> None:
    assert Pacer(1000).burst == 100
    assert Pacer(5).burst == 1


def test_negative_rate_is_refused() -> None:
    with pytest.raises(ValueError):
        Pacer(-1)
