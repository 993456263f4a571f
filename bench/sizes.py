"""How much work each benchmark size does. `full` is issue 16's run (1M-event backlog,
1,000 and 5,000 events/s, a 30-minute soak, `make demo`'s 50,000 events); `small` fits a
shared laptop (about 25 minutes on 2 cores); `tiny` is the smoke test's: every section,
each a few seconds long."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class BenchSize:
    name: str
    repeats: int  # runs per figure without Spark (producer, ceiling alone): median, min, max
    spark_repeats: int  # the same for runs that start the streaming query (slow)
    producer_events: tuple[int, ...]
    # catch-up backlogs, smallest first; the last is the target's. With two or more the
    # marginal rate between the last two is reported as well: start-up cancels out
    backlog_events: tuple[int, ...]
    # catch-up micro-batch cap (None: MAX_OFFSETS_PER_TRIGGER's default)
    max_offsets_per_trigger: int | None
    latency_rates: tuple[float, ...]  # steady-state rates (events/s)
    latency_duration_s: float
    warmup_s: float  # traffic the query catches up on before a steady-state run, reported apart
    soak_rate: float
    soak_duration_s: float  # 0 = no soak
    soak_slices: int  # time slices the soak's latency and batch time are shown in
    drain_limit_s: float  # lag is bounded when the query catches up within this
    demo_events: int  # `lakehouse demo --events N` run as a subprocess; 0 = no demo
    demo_rate: float  # its --rate (events/s; `make demo` uses the default, 1,000)
    demo_warehouse: bool  # the demo's warehouse half too, as `make demo` runs it
    demo_history_days: int = 7  # its --history-days (`make demo`'s default, 7)


SIZES = {
    "tiny": BenchSize(
        name="tiny",
        repeats=2,
        spark_repeats=1,
        producer_events=(1_000, 3_000),
        backlog_events=(3_000,),
        max_offsets_per_trigger=None,
        latency_rates=(300.0,),
        latency_duration_s=10.0,
        warmup_s=5.0,
        soak_rate=200.0,
        soak_duration_s=10.0,
        soak_slices=3,
        drain_limit_s=60.0,
        # 20 s of traffic: the demo's steady state begins after its first batch
        demo_events=2_000,
        demo_rate=100.0,
        demo_warehouse=False,
        demo_history_days=0,
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
        soak_slices=6,
        drain_limit_s=30.0,
        demo_events=20_000,
        demo_rate=1_000.0,
        demo_warehouse=True,
    ),
    "full": BenchSize(
        name="full",
        repeats=3,
        spark_repeats=3,
        producer_events=(100_000, 1_000_000),
        backlog_events=(100_000, 1_000_000),
        max_offsets_per_trigger=100_000,
        latency_rates=(1_000.0, 5_000.0),
        latency_duration_s=180.0,
        warmup_s=60.0,
        soak_rate=1_000.0,
        soak_duration_s=1_800.0,
        soak_slices=10,
        drain_limit_s=30.0,
        demo_events=50_000,
        demo_rate=1_000.0,
        demo_warehouse=True,
    ),
}
