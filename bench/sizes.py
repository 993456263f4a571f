"""How much work each benchmark size does. `full` is the issue's target run (1M-event
backlog, 30-minute soak); `tiny` is the smoke test's; `small` fits a shared laptop."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class BenchSize:
    name: str
    repeats: int  # runs per figure: the median is reported with min and max
    spark_repeats: int  # the same for runs that start streaming queries (slow)
    producer_events: tuple[int, ...]
    backlog_events: tuple[int, ...]  # catch-up backlogs, one size after another
    max_offsets_per_trigger: int | None  # catch-up micro-batch cap (None = all at once)
    latency_rates: tuple[float, ...]  # steady-state rates (events/s)
    latency_duration_s: float
    warmup_s: float  # traffic the streams catch up on before a steady-state run, reported apart
    soak_rate: float
    soak_duration_s: float  # 0 = no soak
    drain_limit_s: float  # lag is bounded when the streams catch up within this


SIZES = {
    "tiny": BenchSize(
        name="tiny",
        repeats=2,
        spark_repeats=1,
        producer_events=(1_000, 3_000),
        backlog_events=(3_000,),
        max_offsets_per_trigger=None,
        latency_rates=(200.0,),
        latency_duration_s=20.0,
        warmup_s=8.0,
        soak_rate=0.0,
        soak_duration_s=0.0,
        drain_limit_s=60.0,
    ),
    "small": BenchSize(
        name="small",
        repeats=3,
        spark_repeats=2,
        producer_events=(10_000, 50_000),
        backlog_events=(20_000, 100_000),
        max_offsets_per_trigger=50_000,
        latency_rates=(1_000.0, 5_000.0),
        latency_duration_s=60.0,
        warmup_s=15.0,
        soak_rate=1_000.0,
        soak_duration_s=180.0,
        drain_limit_s=30.0,
    ),
    "full": BenchSize(
        name="full",
        repeats=3,
        spark_repeats=3,
        producer_events=(100_000, 1_000_000),
        backlog_events=(100_000, 1_000_000),
        max_offsets_per_trigger=100_000,
        latency_rates=(1_000.0, 5_000.0, 10_000.0, 20_000.0),
        latency_duration_s=180.0,
        warmup_s=30.0,
        soak_rate=1_000.0,
        soak_duration_s=1_800.0,
        drain_limit_s=30.0,
    ),
}
