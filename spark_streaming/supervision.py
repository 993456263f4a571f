"""What a failed streaming query is reported as: which family, and why in one line.

Spark wraps a Python error raised in a data source or in foreachBatch in pages of JVM
and Python tracebacks; the operator needs the one line that says what to do.
"""

from __future__ import annotations

import logging
import re
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from retail_lakehouse.logs import kv
from retail_lakehouse.settings import Settings
from spark_streaming.outage import kafka_outage_reason

if TYPE_CHECKING:
    from pyspark.sql.streaming import StreamingQuery

log = logging.getLogger(__name__)

# the last line of a Python traceback that Spark embeds in its own error text
_PYTHON_ERROR_LINE = re.compile(
    r"^(?:(?:[a-z_]\w*\.)+([A-Z]\w*)|(\w+(?:Error|Exception))): (.+)$", re.MULTILINE
)
_OUTAGE_LINE = re.compile(r"OutageTooLongError: (.+)$", re.MULTILINE)
# Spark's abort of a job whose task results exceed spark.driver.maxResultSize
_RESULTS_TOO_BIG = re.compile(
    r"Total size of serialized results of \d+ tasks? \(([^)]+)\) is bigger than "
    r"\W?spark\.driver\.maxResultSize\W? \(([^)]+)\)"
)


class StreamFailedError(RuntimeError):
    """A family's query failed; the others were stopped cleanly. Exit non-zero."""

    def __init__(self, family: str, reason: str, stopped: list[str]) -> None:
        self.family = family
        self.reason = reason
        self.stopped = stopped
        others = f"; stopped the other families too ({', '.join(stopped)})" if stopped else ""
        super().__init__(f"{family} stream failed: {reason}{others}")


def failure_reason(error: BaseException | object, settings: Settings | None = None) -> str:
    """The most telling line of a query's error: an outage's own message if there is
    one (a lake outage from the writer, a Kafka timeout from the connector), else the
    innermost Python error line, else the first line."""
    text = str(getattr(error, "desc", None) or error)
    outage = _OUTAGE_LINE.findall(text)
    if outage:
        return str(outage[-1]).strip()
    kafka_gone = kafka_outage_reason(text, settings) if settings is not None else None
    if kafka_gone:
        return kafka_gone
    too_big = _RESULTS_TOO_BIG.search(text)
    if too_big:
        return results_too_big_reason(too_big.group(1), too_big.group(2), settings)
    python_errors = _PYTHON_ERROR_LINE.findall(text)
    if python_errors:
        qualified, builtin, message = python_errors[-1]
        return f"{qualified or builtin}: {message.strip()}"[:500]
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return (lines[0] if lines else type(error).__name__)[:500]


def results_too_big_reason(size: str, limit: str, settings: Settings | None) -> str:
    """A micro-batch the driver refused. A restart runs the same batch again (its offsets
    are in the checkpoint), so only a larger limit gets past it; the cap sizes the next."""
    cap = f" (now {settings.max_offsets_per_trigger})" if settings is not None else ""
    return (
        f"a micro-batch's results ({size}) are bigger than spark.driver.maxResultSize "
        f"({limit}), and nothing of it was committed: restart with a larger "
        "SPARK_MAX_RESULT_SIZE (and SPARK_DRIVER_MEMORY about 8 times it); "
        f"MAX_OFFSETS_PER_TRIGGER{cap} bounds the batches after it"
    )


def exit_on_stream_failure(run: Callable[[], None]) -> None:
    """Entry points: a failed stream ends the process with its one line and exit code 1."""
    try:
        run()
    except StreamFailedError as failure:
        print(f"ERROR: {failure}", file=sys.stderr, flush=True)
        raise SystemExit(1) from None


_TRANSIENT_START_ERRORS = ("Python worker failed to connect back",)


def start_when_ready(
    start: Callable[[], StreamingQuery], attempts: int = 5, timeout_s: float = 120.0
) -> StreamingQuery:
    """Start a query and wait until its sources are initialized. A Python source whose
    process missed Spark's fixed 10 s connect-back (a busy host) is started again from
    its checkpoint, up to `attempts` times; any other failure is left to the supervisor."""
    for attempt in range(1, attempts + 1):
        query = start()
        wait_until_sources_ready(query, timeout_s)
        error = None if query.isActive else query.exception()
        transient = error is not None and any(m in str(error) for m in _TRANSIENT_START_ERRORS)
        if not transient or attempt == attempts:
            return query
        log.warning(kv("stream_start_retry", query=query.name, attempt=attempt, error=str(error)))
    raise AssertionError("unreachable")


def wait_until_sources_ready(query: StreamingQuery, timeout_s: float = 120.0) -> None:
    """Block while `query` is still initializing its sources.

    Each Python data source starts a Python process that must connect back to the JVM
    within a fixed 10 s; on a busy machine, several queries starting theirs at once can
    miss that and fail before reading anything. Starting them one after another avoids it.
    """
    deadline = time.monotonic() + timeout_s
    # "Initializing StreamExecution", then "Initializing sources"
    while query.isActive and str(query.status.get("message", "")).startswith("Initializing"):
        if time.monotonic() > deadline:
            return
        time.sleep(0.1)
