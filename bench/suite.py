"""One bench run: the requested sections in order, into one result dictionary.

The demo runs first, on its own (its own broker and Spark, before the bench starts
its own); then the bench's broker and SparkSession serve every other section.
"""

from __future__ import annotations

import os
import platform
import shlex
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import targets
from bench.resources import KINDS
from bench.sizes import BenchSize

SECTIONS = ("producer", "catch_up", "ceiling", "steady_state", "soak", "demo", "profile")
# the ceiling alone is for runs without catch-up (which measures it beside the pipeline);
# the profile's samplers slow what they watch, so it is asked for on its own
DEFAULT_SECTIONS = tuple(s for s in SECTIONS if s not in ("ceiling", "profile"))


def run(size: BenchSize, only: set[str], soak_source: str = "broker") -> dict[str, Any]:
    started = time.monotonic()
    result: dict[str, Any] = {
        "meta": _meta(size, only, soak_source),
        "producer": [],
        "catch_up": [],
        "ceiling": [],  # the bare consumer alone; with catch_up it is inside each entry
        "steady_state": [],
        "soak": {"skipped": "not requested"},
        "demo": {"skipped": "not requested"},
        "profile": {"skipped": "not requested"},
    }
    with tempfile.TemporaryDirectory(prefix="lakehouse-bench-") as work:
        work_dir = Path(work)
        if "demo" in only:
            result["demo"] = _demo(size, work_dir)
        if only - {"demo"}:
            _stack_sections(size, only, soak_source, work_dir, result)
    bounded = [s["rate"] for s in result["steady_state"] if s["lag_bounded"]]
    result["highest_bounded_rate"] = max(bounded) if bounded else None
    result["resources"] = _overall_resources(result)
    result["spark_jobs_per_batch"] = targets.jobs_per_batch(result)
    result["targets"] = targets.evaluate(result)
    result["meta"]["wall_s"] = round(time.monotonic() - started, 1)
    result["meta"]["load_average_at_end"] = os.getloadavg()
    return result


def _demo(size: BenchSize, work_dir: Path) -> dict[str, Any]:
    from bench.demo_run import demo_run

    if size.demo_events <= 0:
        return {"skipped": f"size {size.name} has no demo run"}
    return demo_run(
        work_dir,
        size.demo_events,
        rate=size.demo_rate,
        warehouse=size.demo_warehouse,
        history_days=size.demo_history_days,
    )


def _stack_sections(
    size: BenchSize, only: set[str], soak_source: str, work_dir: Path, result: dict[str, Any]
) -> None:
    from bench.catch_up import catch_up, with_marginal_rates
    from bench.ceiling import ceiling_alone
    from bench.observed import warm_up
    from bench.producer_rate import producer_rate
    from bench.profile import profile
    from bench.stack import Bench
    from bench.steady_state import steady_state

    bench = Bench(size, work_dir)
    with bench.running():
        import pyspark

        result["meta"]["spark"] = pyspark.__version__
        if "producer" in only:
            result["producer"] = [producer_rate(bench, n) for n in size.producer_events]
        if only & {"catch_up", "steady_state", "soak", "profile"}:
            result["meta"]["spark_warm_up_s"] = warm_up(bench)
        if "catch_up" in only:
            result["catch_up"] = with_marginal_rates(
                [catch_up(bench, n) for n in size.backlog_events]
            )
        elif "ceiling" in only:
            result["ceiling"] = [ceiling_alone(bench, n) for n in size.backlog_events]
        if "steady_state" in only:
            result["steady_state"] = [
                steady_state(bench, rate, size.latency_duration_s) for rate in size.latency_rates
            ]
        if "soak" in only:
            if size.soak_duration_s > 0:
                result["soak"] = steady_state(
                    bench,
                    size.soak_rate,
                    size.soak_duration_s,
                    slices=size.soak_slices,
                    source=soak_source,
                )
            else:
                result["soak"] = {"skipped": f"size {size.name} has no soak"}
        if "profile" in only:
            result["profile"] = profile(bench)


def _overall_resources(result: dict[str, Any]) -> dict[str, dict[str, float]]:
    """Peak RSS and CPU seconds per kind of process over the scenarios that ran the
    bench's own query (the demo's are reported with it)."""
    runs: list[dict] = []
    for c in result["catch_up"]:
        for mode in c["modes"].values():
            runs += mode["runs"]
    runs += result["steady_state"]
    if not result["soak"].get("skipped"):
        runs.append(result["soak"])
    peak = dict.fromkeys(KINDS, 0.0)
    cpu = dict.fromkeys(KINDS, 0.0)
    for r in runs:
        for kind in KINDS:
            peak[kind] = max(peak[kind], r["resources"]["peak_rss_mb"].get(kind, 0.0))
            cpu[kind] = round(cpu[kind] + r["resources"]["cpu_s"].get(kind, 0.0), 1)
    return {"peak_rss_mb": peak, "cpu_s": cpu}


def _meta(size: BenchSize, only: set[str], soak_source: str) -> dict[str, Any]:
    return {
        "size": size.name,
        "sizes": size.__dict__,
        "started_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "command": _command(size.name),
        "git_commit": _git_commit(),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "sections": sorted(only),
        "soak_source": soak_source,
        "load_average_at_start": os.getloadavg(),
    }


# environment settings a result depends on, so two result files can be told apart
_RECORDED_ENV = (
    "BENCH_", "SPARK_", "TRIGGER_", "WATERMARK_", "MAX_OFFSETS_", "KAFKA_SOURCE", "DELTA_WRITER",
    "MAINTAIN_",
)  # fmt: skip


def _command(size: str) -> str:
    recorded = sorted((k, v) for k, v in os.environ.items() if k.startswith(_RECORDED_ENV))
    env = " ".join(f"{k}={shlex.quote(v)}" for k, v in recorded)
    program = Path(sys.argv[0]).name
    program = "python -m bench" if program == "__main__.py" else program
    return f"{env} {' '.join([program, *sys.argv[1:]])}".strip() or f"size {size}"


def _git_commit() -> str:
    """The checked-out commit, marked "+uncommitted" when the code that ran differs from it."""
    commit = _git("rev-parse", "--short", "HEAD")
    if commit is None:
        return "unknown"
    changed = _git("status", "--porcelain", "--untracked-files=no", "--", *_CODE)
    return f"{commit}+uncommitted" if changed else commit


# what a run's figures depend on; results, notes and docs may change freely
_CODE = ("bench", "spark_streaming", "retail_lakehouse", "producer", "mock", "pyproject.toml")


def _git(*args: str) -> str | None:
    try:
        return subprocess.run(
            ["git", *args],
            capture_output=True,
            text=True,
            check=True,
            cwd=Path(__file__).resolve().parent.parent,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
