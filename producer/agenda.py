"""The simulator's agenda: processes waiting for their next moment, in time order."""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable, Generator

Process = Generator[int, None, None]  # a process yields how many milliseconds to wait


class Agenda:
    """A time-ordered queue of processes.

    Within one millisecond, lower priority runs first, then whatever was
    scheduled first, so the order never depends on anything but the seed.
    """

    def __init__(self) -> None:
        self._queue: list[tuple[int, int, int, Process]] = []
        self._sequence = itertools.count()

    def __bool__(self) -> bool:
        return bool(self._queue)

    def schedule(self, at_ms: int, process: Process, priority: int = 0) -> None:
        heapq.heappush(self._queue, (at_ms, priority, next(self._sequence), process))

    def run_next(self, set_time: Callable[[int], None]) -> None:
        """Run the earliest process one step, then put it back for its next step."""
        at_ms, priority, _, process = heapq.heappop(self._queue)
        set_time(at_ms)
        wait = next(process, None)
        if wait is not None:
            self.schedule(at_ms + max(1, wait), process, priority)
