"""How fast the producer publishes: events/s into the broker with delivery confirmed,
one process, the demo's fault mix. No Spark."""

from __future__ import annotations

from typing import Any

from bench.stack import Bench, progress, short_id, stat


def producer_rate(bench: Bench, events: int) -> dict[str, Any]:
    rates = []
    for repeat in range(bench.size.repeats):
        settings = bench.settings(f"producer-{events}-{repeat}-{short_id()}")
        report = bench.produce(settings, events=events, rate=0.0, write_reference=False)
        rates.append(report.delivered / report.elapsed_s)
        progress("producer", events=events, repeat=repeat, events_per_s=round(rates[-1]))
    return {"events": events, "events_per_s": stat(rates), "runs": [round(r, 1) for r in rates]}
