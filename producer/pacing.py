"""Sending at a target rate: a token bucket that can run into debt."""

from __future__ import annotations


class Pacer:
    """`rate` messages per second with bursts of up to `burst` messages.

    Each message takes a token; tokens refill continuously at `rate`. When the
    bucket is empty the balance goes negative and the caller waits until it is
    back at zero, so over any long stretch the average rate is exactly `rate`.
    A rate of 0 or None means as fast as possible.
    """

    def __init__(self, rate: float | None, burst: float | None = None) -> None:
        if rate is not None and rate < 0:
            raise ValueError("rate must be >= 0 (0 means as fast as possible)")
        self.rate = rate or 0.0
        # default burst: a tenth of a second's worth, so pacing looks smooth in a dashboard
        self.burst = burst if burst is not None else max(1.0, self.rate / 10)
        self._tokens = self.burst
        self._last: float | None = None

    @property
    def unlimited(self) -> bool:
        return self.rate <= 0

    def wait_time(self, now: float) -> float:
        """Take a token at monotonic time `now`; seconds to wait before sending."""
        if self.unlimited:
            return 0.0
        if self._last is not None:
            self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
        self._last = now
        self._tokens -= 1.0
        return 0.0 if self._tokens >= 0 else -self._tokens / self.rate
