"""How busy the shop is by hour of day, and when the next shopper arrives.

Hours are UTC hours, taken as the shop's local time. Stores open 08:00 to 22:00
with a lunch and an after-work peak; online traffic never stops and peaks in the
evening. Arrivals are a non-homogeneous Poisson process drawn by thinning, so the
gaps are seeded exponentials whose rate follows these curves.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from functools import cached_property
from typing import Literal

Channel = Literal["store", "online"]

HOUR_MS = 3_600_000

# Baskets per hour at one physical store, index = hour of day
STORE_BASKETS_PER_HOUR: tuple[float, ...] = (
    0, 0, 0, 0, 0, 0, 0, 0,
    10, 18, 24, 30, 40, 36, 26, 24, 28, 38, 40, 32, 22, 12,
    0, 0,
)  # fmt: skip

# Web sessions per hour across the whole site, index = hour of day
ONLINE_SESSIONS_PER_HOUR: tuple[float, ...] = (
    60, 35, 20, 15, 15, 20, 40, 70, 100, 120, 130, 140,
    170, 160, 140, 140, 150, 180, 230, 290, 320, 300, 220, 120,
)  # fmt: skip


def hour_of_day(t_ms: int) -> int:
    return (t_ms // HOUR_MS) % 24


@dataclass(frozen=True)
class Traffic:
    """Arrival rates for a shop with `physical_stores` tills and one website."""

    physical_stores: int
    scale: float = 1.0

    def store_rate(self, hour: int) -> float:
        """Baskets per hour over all physical stores."""
        return STORE_BASKETS_PER_HOUR[hour] * self.physical_stores * self.scale

    def online_rate(self, hour: int) -> float:
        """Web sessions per hour."""
        return ONLINE_SESSIONS_PER_HOUR[hour] * self.scale

    def total_rate(self, hour: int) -> float:
        return self.store_rate(hour) + self.online_rate(hour)

    @cached_property
    def peak_rate(self) -> float:
        return max(self._total_by_hour)

    @cached_property
    def _total_by_hour(self) -> tuple[float, ...]:
        # next_arrival asks for these on every candidate arrival
        return tuple(self.total_rate(hour) for hour in range(24))

    def next_arrival(self, now_ms: int, rng: random.Random) -> tuple[int, Channel]:
        """When the next shopper arrives after `now_ms`, and where.

        Candidates come at the peak rate and are kept with probability
        rate(t) / peak (Lewis-Shedler thinning), which is exact for rates that
        change by the hour.
        """
        peak_per_ms = self.peak_rate / HOUR_MS
        t = float(now_ms)
        while True:
            t += rng.expovariate(peak_per_ms)
            # whole milliseconds, and always strictly after now
            at = max(now_ms + 1, math.ceil(t))
            hour = hour_of_day(at)
            rate = self._total_by_hour[hour]
            if rng.random() * self.peak_rate < rate:
                break
        channel: Channel = "store" if rng.random() * rate < self.store_rate(hour) else "online"
        return at, channel
