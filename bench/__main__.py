"""`python -m bench [--size tiny|small|full]` (or `make bench BENCH_SIZE=...`).

Writes bench/results/<timestamp>-<size>.json, .md and .png and prints a summary.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import shlex
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import report
from bench.resources import KINDS
from bench.runner import Bench
from bench.sizes import SIZES
from retail_lakehouse import logs

SECTIONS = ("producer", "catch_up", "ceiling", "steady_state", "soak")
RESULTS = Path(__file__).resolve().parent / "results"


def main(argv: list[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default=os.environ.get("BENCH_SIZE", "tiny"), choices=SIZES)
    parser.add_argument(
        "--only",
        default=os.environ.get("BENCH_ONLY", ",".join(s for s in SECTIONS if s != "ceiling")),
        help=f"comma-separated sections of {', '.join(SECTIONS)}",
    )
    parser.add_argument("--out", type=Path, default=Path(os.environ.get("BENCH_OUT", RESULTS)))
    parser.add_argument(
        "--rates",
        default=os.environ.get("BENCH_RATES"),
        help="steady-state rates in events/s, e.g. 1000,5000 (default: the size's)",
    )
    parser.add_argument(
        "--seconds",
        type=float,
        default=os.environ.get("BENCH_SECONDS"),
        help="how long each steady-state rate is produced (default: the size's)",
    )
    parser.add_argument(
        "--soak-source",
        default=os.environ.get("BENCH_SOAK_SOURCE", "broker"),
        choices=("broker", "generated"),
        help="what feeds the soak: the producer through the embedded broker, or the "
        "seeded producer inside Spark (KAFKA_SOURCE=generated), which the embedded "
        "broker's slowdown in long runs does not touch",
    )
    parser.add_argument("--render", type=Path, help="re-draw the .md and .png of a result file")
    args = parser.parse_args(argv)
    if args.render:
        result = json.loads(args.render.read_text())
        args.render.with_suffix(".md").write_text(report.markdown(result))
        report.chart(result, args.render.with_suffix(".png"))
        print(report.summary(result), flush=True)
        return args.render
    logs.configure(os.environ.get("LOG_LEVEL", "INFO"))
    # the streams log a line per batch; the bench's own progress lines are the ones to
    # see. The lines are hidden from the console only: the loggers keep emitting them,
    # because BatchLogCapture reads every batch's phases from them
    for handler in logging.getLogger().handlers:
        handler.addFilter(_quiet_streams)
    only = {s.strip() for s in args.only.split(",") if s.strip()}
    unknown = only - set(SECTIONS)
    if unknown:
        parser.error(f"unknown sections {sorted(unknown)}; choose from {', '.join(SECTIONS)}")
    # SIGTERM unwinds like Ctrl-C, so the broker and Spark are stopped, not orphaned
    signal.signal(signal.SIGTERM, _interrupt)
    size = SIZES[args.size]
    if args.rates:
        size = replace(size, latency_rates=tuple(float(r) for r in args.rates.split(",")))
    if args.seconds:
        size = replace(size, latency_duration_s=float(args.seconds))
    result = run(size, only, soak_source=args.soak_source)
    return write(result, args.out)


def _quiet_streams(record: logging.LogRecord) -> bool:
    noisy = record.name.split(".")[0] in ("spark_streaming", "producer", "mock")
    return record.levelno >= logging.WARNING or not noisy


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def run(size: Any, only: set[str], soak_source: str = "broker") -> dict[str, Any]:
    started = time.monotonic()
    started_at = datetime.now(UTC)
    result: dict[str, Any] = {
        "meta": {
            "size": size.name,
            "sizes": size.__dict__,
            "started_at": started_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "command": _command(size.name),
            "git_commit": _git_commit(),
            "cpu_count": os.cpu_count(),
            "python": platform.python_version(),
            "sections": sorted(only),
        },
        "producer": [],
        "catch_up": [],
        "ceiling": [],  # the bare consumer alone; with catch_up it is inside each entry
        "steady_state": [],
        "soak": {"skipped": "not requested"},
    }
    with tempfile.TemporaryDirectory(prefix="lakehouse-bench-") as work:
        bench = Bench(size, Path(work))
        with bench.running():
            import pyspark

            result["meta"]["spark"] = pyspark.__version__
            result["meta"]["load_average_at_start"] = os.getloadavg()
            if "producer" in only:
                result["producer"] = [bench.producer(n) for n in size.producer_events]
            if "catch_up" in only:
                result["catch_up"] = [bench.catch_up(n) for n in size.backlog_events]
            elif "ceiling" in only:
                result["ceiling"] = [bench.ceiling(n) for n in size.backlog_events]
            if "steady_state" in only:
                result["steady_state"] = [
                    bench.steady_state(rate, size.latency_duration_s) for rate in size.latency_rates
                ]
            if "soak" in only:
                if size.soak_duration_s > 0:
                    result["soak"] = bench.steady_state(
                        size.soak_rate, size.soak_duration_s, buckets=10, source=soak_source
                    )
                else:
                    result["soak"] = {"skipped": f"size {size.name} has no soak"}
    bounded = [s["rate"] for s in result["steady_state"] if s["lag_bounded"]]
    result["highest_bounded_rate"] = max(bounded) if bounded else None
    result["resources"] = _overall_resources(result)
    result["meta"]["wall_s"] = round(time.monotonic() - started, 1)
    result["meta"]["load_average_at_end"] = os.getloadavg()
    return result


def write(result: dict[str, Any], out: Path) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    stem = f"{result['meta']['started_at'].replace(':', '')}-{result['meta']['size']}"
    path = out / f"{stem}.json"
    path.write_text(json.dumps(result, indent=2, default=str) + "\n")
    (out / f"{stem}.md").write_text(report.markdown(result))
    report.chart(result, out / f"{stem}.png")
    print(report.summary(result), flush=True)
    print(f"results: {path} (+ .md, .png)", flush=True)
    return path


def _overall_resources(result: dict[str, Any]) -> dict[str, dict[str, float]]:
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


# environment settings a result depends on, so two result files can be told apart
_RECORDED_ENV = ("BENCH_", "SPARK_", "TRIGGER_", "WATERMARK_", "MAX_OFFSETS_", "KAFKA_SOURCE")


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
_CODE = ("bench", "spark_streaming", "retail_lakehouse", "producer", "pyproject.toml")


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


if __name__ == "__main__":
    main()
