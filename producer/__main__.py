"""`python -m producer --events 1000 --rate 500`: publish the simulated shop to Kafka.

Settings come from the environment or .env (KAFKA_BOOTSTRAP_SERVERS, LAKE_ROOT,
TOPIC_*, PRODUCER_SEED ...); the flags below override the producer's own.
The report is printed to stdout as JSON; progress goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from datetime import datetime

from producer.faults import FaultConfig
from producer.run import run_producer
from retail_lakehouse import logs
from retail_lakehouse.settings import get_settings


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m producer", description=__doc__)
    parser.add_argument("--events", type=int, help="clean events to send (default: no limit)")
    parser.add_argument("--duration", type=float, help="seconds to run (default: no limit)")
    parser.add_argument(
        "--rate", type=float, help="messages/s; 0 = unpaced (default: PRODUCER_RATE)"
    )
    parser.add_argument("--seed", type=int, help="default: PRODUCER_SEED")
    parser.add_argument("--clock", choices=("simulated", "realtime"), default="simulated")
    parser.add_argument("--start", type=datetime.fromisoformat,
                        help="simulated start, e.g. 2026-03-02T08:00:00+00:00")  # fmt: skip
    parser.add_argument("--faults", choices=("none", "demo"), default="none")
    parser.add_argument("--bootstrap-servers", help="default: KAFKA_BOOTSTRAP_SERVERS")
    parser.add_argument("--no-reference", action="store_true",
                        help="skip writing reference.stores and reference.products")  # fmt: skip
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    logs.configure()
    settings = get_settings()
    if args.bootstrap_servers:
        settings = settings.model_copy(update={"kafka_bootstrap_servers": args.bootstrap_servers})
    report = run_producer(
        settings,
        events=args.events,
        duration_s=args.duration,
        rate=args.rate,
        seed=args.seed,
        faults=FaultConfig.demo_defaults() if args.faults == "demo" else FaultConfig.none(),
        clock=args.clock,
        start=args.start,
        write_reference=not args.no_reference,
    )
    json.dump(report.to_dict(), sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0 if report.failed == 0 and report.undelivered == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
