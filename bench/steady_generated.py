"""The steady state fed by the generated source (`--soak-source generated`): the same
events, faults and pacing as the producer, admitted by a Spark source inside the job
(KAFKA_SOURCE=generated) instead of read from the broker. The query starts first and
the traffic begins after it: produced_at of the n-th event is start + n / rate."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from bench.observed import ObservedRun, observed_pipeline
from bench.stack import Bench, progress, short_id
from bench.steady_state import drained_at, measured
from retail_lakehouse.contracts import FAMILIES
from retail_lakehouse.settings import Settings

# about how long the query takes to start (the generated traffic begins after it)
_LEAD = timedelta(seconds=20)


def steady_state_generated(
    bench: Bench, rate: float, duration_s: float, slices: int
) -> dict[str, Any]:
    from producer.catalog import build_catalog
    from producer.reference_tables import write_reference_tables
    from spark_streaming.generated_source import stream_start

    warmup_s = bench.size.warmup_s
    settings = bench.settings(
        f"steady-generated-{int(rate)}-{int(duration_s)}-{short_id()}",
        kafka_source="generated",
        generated_rate=rate,
        generated_events=round(rate * (warmup_s + duration_s)),
        # enough shop days that the timeline never runs ahead of the wall clock
        generated_history_days=max(30.0, rate * (warmup_s + duration_s) / 10_000),
    )
    # as the producer does before it publishes: the stock alarms need safety stock
    write_reference_tables(settings, build_catalog(settings.producer_seed))
    # kept beside the checkpoints: the query's source reads the same start
    start = stream_start(settings, not_before=datetime.now(UTC) + _LEAD)
    started_ms = datetime.fromisoformat(start).timestamp() * 1000
    since_ms = started_ms + warmup_s * 1000
    until_ms = since_ms + duration_s * 1000
    with observed_pipeline(bench, settings) as run:
        _wait_until(run, since_ms, rate, duration_s)  # the warm-up: start, first batches
        begin = run.mark()
        _wait_until(run, until_ms, rate, duration_s)
        deadline = time.monotonic() + bench.size.drain_limit_s + 120
        totals = _generated_totals(run, settings, until_ms, deadline)
        drained_ms = drained_at(run, totals, bench.size.drain_limit_s, duration_s)
        end = run.mark()
    return {
        "source": "generated",
        "rate": rate,
        "achieved_rate": rate,  # admitted on schedule: start + n / rate
        "duration_s": duration_s,
        "events": round(rate * duration_s),
        **measured(
            settings, run, (started_ms, since_ms, until_ms), drained_ms, (begin, end), slices
        ),
    }


def _wait_until(run: ObservedRun, moment_ms: float, rate: float, duration_s: float) -> None:
    while (left_s := moment_ms / 1000 - time.time()) > 0:
        time.sleep(min(10.0, left_s))
        run.check()
        progress(
            "steady_state",
            source="generated",
            rate=rate,
            left_s=round(max(0.0, moment_ms / 1000 - time.time())),
            of_s=duration_s,
            batches=len(run.watch.poll().batches),
        )


def _generated_totals(
    run: ObservedRun, settings: Settings, ended_ms: float, deadline: float
) -> dict[str, int]:
    """Each family's count of generated messages, from a trigger that began after the
    sequence's last produced_at: with no maxOffsetsPerTrigger, a trigger takes all the
    source offers, so its end offsets are the topics' totals."""
    family_of = {settings.topic(f): f.name for f in FAMILIES}
    while True:
        progress_ = run.running.query.lastProgress
        if progress_ and _began_ms(progress_) > ended_ms:
            end = progress_["sources"][0]["endOffset"]
            end = json.loads(end) if isinstance(end, str) else end
            totals = {name: 0 for name in family_of.values()}
            for topic, partitions in end.items():
                totals[family_of[topic]] += sum(int(o) for o in partitions.values())
            return totals
        run.check()
        if time.monotonic() > deadline:
            raise TimeoutError("the query has not begun a trigger since the traffic ended")
        time.sleep(0.25)


def _began_ms(progress_: dict) -> float:
    return datetime.fromisoformat(progress_["timestamp"].replace("Z", "+00:00")).timestamp() * 1000
