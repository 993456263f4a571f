"""`python -m bench [--size tiny|small|full]` (or `make bench BENCH_SIZE=...`).

Writes bench/results/<timestamp>-<size>.json, .md and .png and prints a summary;
`--render <result.json>` draws the .md and .png of a result file again.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
from dataclasses import replace
from pathlib import Path
from typing import Any

from bench import chart, report
from bench.sizes import SIZES
from bench.suite import DEFAULT_SECTIONS, SECTIONS
from retail_lakehouse import logs

RESULTS = Path(__file__).resolve().parent / "results"


def main(argv: list[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--size", default=os.environ.get("BENCH_SIZE", "tiny"), choices=SIZES)
    parser.add_argument(
        "--only",
        default=os.environ.get("BENCH_ONLY", ",".join(DEFAULT_SECTIONS)),
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
        help="what feeds the soak: the producer through the local Apache Kafka broker, "
        "or the seeded producer inside Spark (KAFKA_SOURCE=generated)",
    )
    parser.add_argument(
        "--catch-up-batch",
        default=os.environ.get("BENCH_CATCH_UP_BATCH"),
        type=int,
        help="records per catch-up micro-batch, MAX_OFFSETS_PER_TRIGGER (default: the size's)",
    )
    parser.add_argument("--render", type=Path, help="re-draw the .md and .png of a result file")
    args = parser.parse_args(argv)
    if args.render:
        result = json.loads(args.render.read_text())
        args.render.with_suffix(".md").write_text(report.markdown(result))
        chart.chart(result, args.render.with_suffix(".png"))
        print(report.summary(result), flush=True)
        return Path(args.render)
    logs.configure(os.environ.get("LOG_LEVEL", "INFO"))
    # the pipeline logs a line per batch; the bench's own progress lines are the ones
    # to see. The lines are hidden from the console only: the loggers keep emitting
    # them, because BatchLogCapture reads every batch's phases from them
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
    if args.catch_up_batch:
        size = replace(size, max_offsets_per_trigger=args.catch_up_batch)
    from bench.suite import run

    return write(run(size, only, soak_source=args.soak_source), args.out)


def _quiet_streams(record: logging.LogRecord) -> bool:
    noisy = record.name.split(".")[0] in ("spark_streaming", "producer", "mock")
    return record.levelno >= logging.WARNING or not noisy


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def write(result: dict[str, Any], out: Path) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    stem = f"{result['meta']['started_at'].replace(':', '')}-{result['meta']['size']}"
    path = out / f"{stem}.json"
    path.write_text(json.dumps(result, indent=2, default=str) + "\n")
    (out / f"{stem}.md").write_text(report.markdown(result))
    chart.chart(result, out / f"{stem}.png")
    print(report.summary(result), flush=True)
    print(f"results: {path} (+ .md, .png)", flush=True)
    return path


if __name__ == "__main__":
    main()
