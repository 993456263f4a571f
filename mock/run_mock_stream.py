"""Run the streaming job with no Kafka and no broker.

The seeded producer feeds Spark directly through a Python streaming source
(`KAFKA_SOURCE=generated`, spark_streaming/generated_source.py) whose rows have
the Kafka schema, so the real queries, transforms and writers fill the same
bronze, silver and gold tables as `lakehouse stream`. Events are fixed by offset:
rerunning on the same lake resumes from the checkpoints and sees the same events.
It stops once every query has committed every generated message of its topic.

    .venv/bin/python mock/run_mock_stream.py --events 20000 --rate 2000 --lake /tmp/lake
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if __package__ in (None, ""):  # run as a file: make the project's packages importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


RESTARTS = 2


if TYPE_CHECKING:
    from retail_lakehouse.settings import Settings


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000, help="clean events (default 20000)")
    parser.add_argument(
        "--rate", type=float, default=1000.0, help="events/s admitted; 0 = all at once"
    )
    parser.add_argument("--seed", type=int, default=None, help="seed (default PRODUCER_SEED, 42)")
    parser.add_argument("--no-faults", action="store_true", help="clean stream, no faults")
    parser.add_argument("--lake", type=Path, default=None, help="LAKE_ROOT (default from env)")
    parser.add_argument(
        "--families", default="sales,clickstream,inventory", help="comma-separated families"
    )
    args = parser.parse_args(argv)
    if args.events < 1:
        parser.error("--events must be at least 1")
    if args.rate < 0:
        parser.error("--rate must be 0 or more")
    return args


def expected_offsets(settings: Settings, families: list[str]) -> dict[str, int]:
    """Each family's topic end offset: how many messages the finite sequence gives it."""
    from retail_lakehouse.contracts import family
    from spark_streaming.generated_source import GeneratorOptions, generated_stream_options
    from spark_streaming.generated_source import messages as generated

    topics = {settings.topic(family(name)): name for name in families}
    options = GeneratorOptions.parse(generated_stream_options(settings, list(topics)))
    counts = dict.fromkeys(families, 0)
    for topic, *_ in generated(options):
        if topic in topics:
            counts[topics[topic]] += 1
    return counts


def run_until_consumed(settings: Settings, families: list[str], expected: dict[str, int]) -> None:
    """The pipeline `lakehouse stream` runs, until it has committed every generated
    message of each family's topic."""
    from retail_lakehouse.contracts import family
    from spark_streaming.session import build_session
    from spark_streaming.streams import await_pipeline, start_pipeline

    spark = build_session(settings, app_name="retail-lakehouse-mock-stream")
    topics = {name: settings.topic(family(name)) for name in families}
    try:
        running = start_pipeline(spark, settings, families)
        await_pipeline(
            running,
            done=lambda: all(
                running.committed_through(topics[name]) >= expected[name] for name in families
            ),
        )
    finally:
        spark.stop()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    from mock.summary import render, summarize_lake
    from producer.catalog import build_catalog
    from producer.reference_tables import write_reference_tables
    from retail_lakehouse import logs
    from retail_lakehouse.logs import kv
    from retail_lakehouse.settings import Settings

    logs.configure()
    base = Settings()
    update: dict[str, object] = {
        "kafka_source": "generated",
        "generated_events": args.events,
        "generated_rate": args.rate,
        "generated_faults": not args.no_faults,
    }
    if args.seed is not None:
        update["producer_seed"] = args.seed
    if args.lake is not None:
        update["lake_root"] = str(args.lake)
    settings = base.model_copy(update=update)
    write_reference_tables(settings, build_catalog(settings.producer_seed))
    families = [f.strip() for f in args.families.split(",") if f.strip()]
    expected = expected_offsets(settings, families)
    for attempt in range(1, RESTARTS + 2):
        try:
            run_until_consumed(settings, families, expected)
            break
        except RuntimeError as exc:
            # Spark gives a Python source's planner 10 s to start; on a saturated
            # machine it can miss that. A restart resumes from the checkpoints.
            if "failed to connect back" not in str(exc) or attempt > RESTARTS:
                raise
            logging.getLogger(__name__).warning(
                kv("mock_stream_restart", attempt=attempt, reason="python worker start timeout")
            )
    print(render(None, summarize_lake(settings), {"mode": "generated source, no broker"}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
