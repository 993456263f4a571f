"""spark-submit entry point for the streaming pipeline (README, Running on a cluster).

    spark-submit --master spark://host:7077 --jars <.jvm/spark jars> \
        --py-files dist/retail_lakehouse_job.zip spark_streaming/main.py

The `lakehouse stream` command runs the same code with a local master.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
import time
from pathlib import Path

if __package__ in (None, ""):
    # run as a file by spark-submit: make the project's packages importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from retail_lakehouse import logs
from retail_lakehouse.logs import kv
from retail_lakehouse.settings import Settings

FIRST_BATCH_GRACE_S = 120.0


def run(settings: Settings, families: list[str], until_idle_s: float | None = None) -> None:
    """Run the pipeline until Ctrl-C/SIGTERM or, with until_idle_s, until no batch has
    run for that many seconds after at least one did (a batch still running, however
    long, is not idleness)."""
    from spark_streaming.session import build_session
    from spark_streaming.streams import await_pipeline, start_pipeline

    spark = build_session(settings, app_name="retail-lakehouse-streams")
    stop = _stop_on_signals()
    running = start_pipeline(spark, settings, families)
    started = time.monotonic()

    def idle() -> bool:
        processor = running.processor
        if until_idle_s is None or processor.in_batch:
            return False
        last = processor.last_batch_monotonic
        if last is None:
            # nothing new arrived at all: give the first batch time to warm up
            return time.monotonic() - started > max(until_idle_s, FIRST_BATCH_GRACE_S)
        return time.monotonic() - last > until_idle_s

    try:
        await_pipeline(running, stop=stop, done=idle)
    finally:
        # stop the listener bus while Python still answers its callbacks
        spark.stop()


def _stop_on_signals() -> threading.Event:
    """Ctrl-C and SIGTERM (cluster managers, `kill`) let the running micro-batch finish,
    then stop the queries. PySpark's own SIGINT handler would cancel the running Spark
    jobs and cut the batch in half, so it is replaced once the session exists; a second
    Ctrl-C exits at once."""
    stop = threading.Event()

    def request_stop(signum: int, frame: object) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        logging.getLogger(__name__).info(
            kv("stop_requested", signal=signal.Signals(signum).name, action="finishing batch")
        )
        stop.set()

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, request_stop)
        signal.signal(signal.SIGTERM, request_stop)
    return stop


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--families", default="sales,clickstream,inventory")
    parser.add_argument("--until-idle", type=float, default=None, metavar="SECONDS")
    args = parser.parse_args(argv)
    logs.configure()
    from spark_streaming.supervision import exit_on_stream_failure

    families = [f.strip() for f in args.families.split(",") if f.strip()]
    exit_on_stream_failure(lambda: run(Settings(), families, args.until_idle))


if __name__ == "__main__":
    main()
