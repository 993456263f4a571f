"""Starting the family streams in a test on a loaded machine.

Spark gives the Python Kafka source's worker a fixed 10 s to connect back to the JVM
when a query starts; on a busy shared machine it can miss that and the query dies
before reading anything. Such a family is simply started again: it never read a
record, so nothing is hidden by the retry.
"""

from __future__ import annotations

import time

from spark_streaming.streams import ALL_FAMILIES, start_streams, stop_streams

STARTS = 5


def start_all(spark, settings) -> list:
    running: list = []
    for family in ALL_FAMILIES:
        running += _start_family(spark, settings, family)
    return running


def _start_family(spark, settings, family: str) -> list:
    for attempt in range(STARTS):
        started = start_streams(spark, settings, [family])
        deadline = time.monotonic() + 90
        query = started[0].query
        while query.isActive and time.monotonic() < deadline:
            if query.status.get("message") != "Initializing sources":
                return started
            time.sleep(0.2)
        error = query.exception() if not query.isActive else None
        stop_streams(started)
        if error is None or "connect back" not in str(error) or attempt == STARTS - 1:
            raise RuntimeError(f"{family} stream did not start: {error}")
    raise AssertionError("unreachable")
