"""Daily KPIs from N days of seeded events, in batch, with no Kafka and no broker.

The seeded producer's messages (simulated clock, so day boundaries are simulated
days) become static DataFrames in the Kafka schema, one per day, and go
through the streaming job's own batch function (`PipelineBatchProcessor`, what
`foreachBatch` calls), so the same transforms and writers fill the bronze, silver
and gold tables. The daily KPIs are then read from gold.sales_by_store_minute and
written as outputs/aggregates_daily.csv with the DAG's export columns, one row per
business date (each store's local date, from reference.stores' time_zone).
`streaming_latency_ms` is left empty: a batch run has no streaming latency.

    .venv/bin/python mock/run_batch_kpis.py --days 2 --seed 42
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

if __package__ in (None, ""):  # run as a file: make the project's packages importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

if TYPE_CHECKING:
    import pandas as pd
    from pyspark.sql import SparkSession

    from retail_lakehouse.settings import Settings

DEFAULT_OUTPUT = Path("outputs/aggregates_daily.csv")
# simulated days run midnight to midnight UTC, so each CSV row is one whole day
FIRST_DAY = datetime(2026, 3, 2, tzinfo=UTC)


def day_batches(
    settings: Settings, days: int, faults: bool
) -> Iterator[tuple[int, dict[str, list[tuple]]]]:
    """(day index, topic -> Kafka-schema rows) for each simulated day, in order."""
    from producer.clock import utc_now
    from retail_lakehouse.contracts import FAMILIES
    from spark_streaming.generated_source import CREATE_TIME, GeneratorOptions, messages

    topics = tuple(settings.topic(fam) for fam in FAMILIES)
    options = GeneratorOptions(
        topics=topics,
        topic_names=tuple((fam.topic_setting, settings.topic(fam)) for fam in FAMILIES),
        seed=settings.producer_seed,
        faults=faults,
        start=FIRST_DAY.isoformat(),
    )
    offsets = dict.fromkeys(topics, 0)
    day, rows = 0, {t: [] for t in topics}  # type: ignore[var-annotated]
    boundary = FIRST_DAY + timedelta(days=1)
    # produced_at is the wall clock (batch latency is not reported); days are simulated
    for topic, key, value, produced_at, at in messages(options, wall_clock=utc_now):
        while at >= boundary:
            yield day, rows
            day, rows, boundary = day + 1, {t: [] for t in topics}, boundary + timedelta(days=1)
            if day >= days:
                return
        rows[topic].append((key, value, topic, 0, offsets[topic], produced_at, CREATE_TIME))
        offsets[topic] += 1


def run_batches(spark: SparkSession, settings: Settings, days: int, faults: bool) -> int:
    """Feed each day through the pipeline's batch function; returns messages processed."""
    from spark_streaming.batch.plans import PLANS
    from spark_streaming.batch.processor import PipelineBatchProcessor
    from spark_streaming.lake_writer import make_lake_writer
    from spark_streaming.schemas import KAFKA_SCHEMA
    from spark_streaming.transforms.validation import validated_records

    processor = PipelineBatchProcessor(
        PLANS.values(), settings, make_lake_writer(spark, settings), query_name="batch_kpis"
    )
    processor.bind(f"batch-kpis-seed{settings.producer_seed}")
    total = 0
    started = time.monotonic()
    for day, by_topic in day_batches(settings, days, faults):
        rows = [row for topic_rows in by_topic.values() for row in topic_rows]
        if rows:
            records = spark.createDataFrame(rows, KAFKA_SCHEMA)
            processor(validated_records(records, processor.families), day)
            total += len(rows)
        print(
            f"day {day + 1}/{days}: {len(rows)} messages "
            f"({time.monotonic() - started:.0f} s so far)",
            file=sys.stderr,
            flush=True,
        )
    return total


def daily_aggregates(sales_by_store_minute: pd.DataFrame, stores: pd.DataFrame) -> pd.DataFrame:
    """gold.sales_by_store_minute rolled up per business date (the store's local date,
    `stores` giving each store_id its time_zone), in AGGREGATES_DAILY_COLUMNS.

    `orders` counts distinct transactions per window; a transaction falls in one
    window, store and channel, so summing the windows counts each order once.
    """
    import pandas as pd

    from retail_lakehouse.settings import DEFAULT_WEB_STORE_TIME_ZONE
    from retail_lakehouse.tables import AGGREGATES_DAILY_COLUMNS

    zones = stores.set_index("store_id")["time_zone"]
    starts = pd.to_datetime(sales_by_store_minute["window_start"], utc=True)
    zone_of = sales_by_store_minute["store_id"].map(zones).fillna(DEFAULT_WEB_STORE_TIME_ZONE)
    local = [start.tz_convert(zone).date() for start, zone in zip(starts, zone_of, strict=True)]
    frame = sales_by_store_minute.assign(
        date=local, revenue=sales_by_store_minute["revenue"].astype(float)
    )
    daily = frame.groupby("date", as_index=False).agg(
        orders=("orders", "sum"), revenue_usd=("revenue", "sum"), units=("units", "sum")
    )
    daily["revenue_usd"] = daily["revenue_usd"].round(2)
    daily["avg_order_value_usd"] = (daily["revenue_usd"] / daily["orders"]).round(2)
    daily["streaming_latency_ms"] = pd.NA  # batch mode: no streaming latency to report
    daily["date"] = daily["date"].astype(str)
    return daily[list(AGGREGATES_DAILY_COLUMNS)].sort_values("date").reset_index(drop=True)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=1, help="simulated days (default 1)")
    parser.add_argument("--seed", type=int, default=None, help="seed (default PRODUCER_SEED, 42)")
    parser.add_argument("--faults", action="store_true", help="inject the demo's fault mix")
    parser.add_argument("--lake", type=Path, default=None, help="LAKE_ROOT (default: a temp dir)")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="the daily CSV")
    args = parser.parse_args(argv)
    if args.days < 1:
        parser.error("--days must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    from producer.catalog import build_catalog
    from producer.reference_tables import write_reference_tables
    from retail_lakehouse import logs, tables
    from retail_lakehouse.settings import Settings
    from spark_streaming.lake_writer import make_lake_writer
    from spark_streaming.session import build_session

    logs.configure(os.environ.get("LOG_LEVEL", "WARNING"))
    lake = args.lake or Path(tempfile.mkdtemp(prefix="batch-kpis-lake-"))
    update: dict[str, object] = {"lake_root": str(lake)}
    if args.seed is not None:
        update["producer_seed"] = args.seed
    settings = Settings().model_copy(update=update)
    write_reference_tables(settings, build_catalog(settings.producer_seed))
    spark = build_session(settings, app_name="retail-lakehouse-batch-kpis")
    try:
        processed = run_batches(spark, settings, args.days, args.faults)
        lake_writer = make_lake_writer(spark, settings)
        gold = lake_writer.read_arrow(tables.SALES_BY_STORE_MINUTE)
        stores = lake_writer.read_arrow(tables.STORES, ["store_id", "time_zone"])
    finally:
        spark.stop()
    if gold is None or stores is None:
        raise SystemExit("no sales were generated: try more --days")
    daily = daily_aggregates(gold.to_pandas(), stores.to_pandas())
    args.output.parent.mkdir(parents=True, exist_ok=True)
    daily.to_csv(args.output, index=False)
    print(f"{processed} messages, seed {settings.producer_seed}, lake {lake}")
    print(f"wrote {args.output} (streaming_latency_ms is empty in batch mode)")
    print(daily.to_string(index=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
