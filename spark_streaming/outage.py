"""Riding out outages: brokers restart, object stores answer 503 or time out for a while.

The lake writer wraps its calls in `ride_out`: transient errors are retried with
growing pauses, with one warning per retry naming the service and how long it has been
waiting, until LAKE_OUTAGE_TOLERANCE runs out. Spark's Kafka connector retries by
itself: `jvm_kafka_outage_options` turns KAFKA_OUTAGE_TOLERANCE into its retry and
timeout options, and `kafka_outage_reason` reads the timeout it gives up with. Either
way, one line (`OutageTooLongError`) says what happened and what to do.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from retail_lakehouse.durations import duration_seconds
from retail_lakehouse.logs import kv
from retail_lakehouse.settings import Settings

log = logging.getLogger(__name__)

T = TypeVar("T")

DEFAULT_KAFKA_OUTAGE_TOLERANCE_S = 180.0


class OutageTooLongError(RuntimeError):
    """A service stayed unreachable for longer than its outage budget."""


@dataclass(frozen=True)
class Outage:
    """Who is waited for, and for how long at most; picklable, so it travels to workers."""

    service: str  # "kafka" or "lake": also the prefix of the log events
    target: str  # the broker list or lake root the operator will check (never a secret)
    budget_s: float
    setting: str  # the setting that raises the budget, named in the final error
    initial_backoff_s: float = 0.5
    max_backoff_s: float = 10.0

    def backoff_s(self, retry: int, waited_s: float) -> float:
        """Pause before retry number `retry` (0-based): doubling, capped, never past the budget."""
        pause = min(self.max_backoff_s, self.initial_backoff_s * 2**retry)
        return max(0.0, min(pause, self.budget_s - waited_s))

    def too_long(
        self, during: str, waited_s: float, error: BaseException, symptom: str = ""
    ) -> OutageTooLongError:
        """`symptom` replaces "unreachable for Ns" when the service answers but does not
        deliver, so the operator looks for an overloaded service, not a network fault."""
        symptom = symptom or f"unreachable for {waited_s:.0f}s"
        return OutageTooLongError(
            f"{self.service} at {self.target} {symptom} during {during}, "
            f"longer than {self.setting}={self.budget_s:g}s (last error: {first_line(error)}). "
            f"Check that it is up, reachable and not overloaded, then restart the job: it "
            f"resumes from its checkpoint with nothing lost or doubled; or raise {self.setting} "
            "to wait longer."
        )


def ride_out(
    call: Callable[[], T],
    outage: Outage,
    during: str,
    is_transient: Callable[[BaseException], bool],
    *,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> T:
    """`call()`, retried on transient errors until it succeeds or `outage.budget_s` has
    passed since the first attempt began; other errors propagate at once."""
    began = clock()
    retry = 0
    while True:
        try:
            result = call()
        except Exception as error:
            if not is_transient(error):
                raise
            waited = clock() - began
            if waited >= outage.budget_s:
                raise outage.too_long(during, waited, error) from error
            pause = outage.backoff_s(retry, waited)
            log.warning(
                kv(
                    f"{outage.service}_outage",
                    target=outage.target,
                    during=during,
                    waited_s=round(waited, 1),
                    retry_in_s=round(pause, 1),
                    budget_s=outage.budget_s,
                    error=repr(first_line(error)),
                )
            )
            sleep(pause)
            retry += 1
            continue
        if retry:
            log.warning(
                kv(
                    f"{outage.service}_recovered",
                    target=outage.target,
                    during=during,
                    waited_s=round(clock() - began, 1),
                    retries=retry,
                )
            )
        return result


def first_line(error: BaseException) -> str:
    text = str(error).strip() or type(error).__name__
    return text.splitlines()[0][:300]


def jvm_kafka_outage_options(budget_s: float) -> dict[str, str]:
    """Options for Spark's JVM Kafka source that make it wait out about `budget_s`.

    Every Kafka client call of the connector (the driver's offset look-ups through an
    AdminClient, the executors' consumer positions) retries inside
    `default.api.timeout.ms`, one request at a time bounded by `request.timeout.ms`; so
    the budget is that timeout, with one attempt (`fetchOffset.numRetries`). A read
    already under way polls as long (`kafkaConsumer.pollTimeoutMs`).
    """
    budget_ms = int(max(5_000, budget_s * 1000))
    return {
        "fetchOffset.numRetries": "1",
        "fetchOffset.retryIntervalMs": "1000",
        "kafka.default.api.timeout.ms": str(budget_ms),
        "kafka.request.timeout.ms": str(min(budget_ms, 30_000)),
        "kafka.reconnect.backoff.max.ms": str(min(budget_ms // 10, 10_000)),
        # never less than 30 s: a busy broker is not an outage
        "kafkaConsumer.pollTimeoutMs": str(max(30_000, budget_ms)),
    }


# what Spark's Kafka connector fails with once its retries and timeouts are spent
_KAFKA_GAVE_UP = re.compile(
    r"(org\.apache\.kafka\.common\.errors\.TimeoutException: [^\n]*"
    r"|Timed out waiting for a node assignment[^\n]*"
    r"|Cannot fetch record[^\n]*"
    r"|Failed to get records for [^\n]* after polling for \d+[^\n]*)"
)


def kafka_outage_reason(error_text: str, settings: Settings) -> str | None:
    """The one line for a query the Kafka connector stopped after waiting out
    KAFKA_OUTAGE_TOLERANCE; None when the error is no Kafka timeout."""
    match = _KAFKA_GAVE_UP.search(error_text)
    if match is None:
        return None
    budget_s = duration_seconds(settings.kafka_outage_tolerance)
    outage = Outage(
        "kafka",
        settings.kafka_bootstrap_servers or "?",
        budget_s,
        "KAFKA_OUTAGE_TOLERANCE",
    )
    cause = RuntimeError(match.group(1).strip())
    return str(outage.too_long("reading the stream", budget_s, cause))
