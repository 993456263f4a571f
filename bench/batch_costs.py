"""What one micro-batch costs, without a broker or a stream: the batch function alone.

    .venv/bin/python -m bench.batch_costs --family sales --rows 1000 --batches 24
    .venv/bin/python -m bench.batch_costs --family clickstream --rows 40000 --batches 9

Feeds `FamilyBatchProcessor` batches of the seeded producer's messages (the generated
source's bytes, so the fault mix is the default one) on a temporary lake and prints
JSON lines. Spark's expression settings are alternated batch by batch in the same
process, so machine noise falls on each of them alike:

* `codegen`: Spark's defaults (whole-stage code generation);
* `no_wholestage`: whole-stage generation off, expressions still compiled;
* `interpreted`: expressions evaluated without generated code (the local default).

Then, for the same batches, the dedup look-up in silver two ways: the batch's ids as
an `event_id IN (...)` predicate, and the batch's minutes read with the ids matched
in Arrow (what `FamilyBatchProcessor` does). Both must find the same duplicates.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa

from retail_lakehouse import logs
from retail_lakehouse.settings import Settings

MODES = {
    "codegen": {
        "spark.sql.codegen.wholeStage": "true",
        "spark.sql.codegen.factoryMode": "FALLBACK",
    },
    "no_wholestage": {
        "spark.sql.codegen.wholeStage": "false",
        "spark.sql.codegen.factoryMode": "FALLBACK",
    },
    "interpreted": {
        "spark.sql.codegen.wholeStage": "false",
        "spark.sql.codegen.factoryMode": "NO_CODEGEN",
    },
}
WARMUP_ROUNDS = 2  # rounds of every mode left out: JVM warm-up and Python workers


def measure(family: str, rows: int, batches: int) -> list[dict[str, Any]]:
    from spark_streaming import generated_source as gs
    from spark_streaming.delta_rs_writer import DeltaRsWriter
    from spark_streaming.event_time_state import first_copies
    from spark_streaming.family_batch import FamilyBatchProcessor, _rows
    from spark_streaming.family_plans import plan_for
    from spark_streaming.session import build_session
    from spark_streaming.transforms import bronze, silver, validation

    settings = Settings(lake_root=tempfile.mkdtemp(prefix="batch-costs-") + "/lake", _env_file=None)
    spark = build_session(settings, app_name="batch-costs")
    plan = plan_for(family)
    topic = settings.topic(plan.family)
    options = gs.GeneratorOptions.parse(
        {
            "subscribe": topic,
            "startTime": datetime.now(UTC).replace(microsecond=0).isoformat(),
            "rowsPerSecond": "0",
            "totalEvents": str(rows * batches * 10),
            **{f"topic.{f.name}": settings.topic(f) for f in gs.FAMILIES},
        }
    )
    writer = DeltaRsWriter(settings)
    processor = FamilyBatchProcessor(plan, settings, writer, spark)
    processor.bind("batch-costs")
    names = list(MODES)
    spent: dict[str, list[float]] = {m: [] for m in names}
    phases: dict[str, list[dict[str, int]]] = {m: [] for m in names}
    look_ups: dict[str, list[float]] = {"in_list": [], "minutes_read": []}
    for batch_id in range(batches):
        mode = names[batch_id % len(names)]
        for key, value in MODES[mode].items():
            spark.conf.set(key, value)
        start = batch_id * rows
        kafka = gs.read_offsets(options, topic, start, start + rows)
        frame = spark.createDataFrame(pa.Table.from_batches([kafka]))
        measured = batch_id >= WARMUP_ROUNDS * len(names)
        if measured and batch_id > 0:
            validated = validation.parse_and_validate(
                bronze.to_bronze(frame, datetime.now(UTC)), plan.family
            )
            lineage = _rows(silver.valid_events(validated).select(*silver.LINEAGE).toArrow())
            keep, _ = first_copies((r[0], r[1], r[3], r[4]) for r in lineage)
            began = time.monotonic()
            by_list = _look_up_with_in_list(processor, keep)
            look_ups["in_list"].append(_ms_since(began))
            began = time.monotonic()
            by_minutes = processor._stored_at_other_offsets(keep)
            look_ups["minutes_read"].append(_ms_since(began))
            if by_list != by_minutes:
                raise AssertionError(f"look-ups disagree: {len(by_list)} vs {len(by_minutes)}")
        began = time.monotonic()
        processor(frame, batch_id)
        if measured:
            spent[mode].append(_ms_since(began))
            phases[mode].append(dict(processor.history[-1].phase_ms))
        print(f"batch {batch_id + 1}/{batches} ({mode})", file=sys.stderr, flush=True)
    spark.stop()
    result = [
        {
            "family": family,
            "rows": rows,
            "settings": mode,
            "batches": len(spent[mode]),
            "batch_ms_median": _median(spent[mode]),
            "batch_ms_min": round(min(spent[mode])) if spent[mode] else None,
            "phase_ms_median": {
                k: _median([p[k] for p in phases[mode]]) for k in (phases[mode] or [{}])[0]
            },
        }
        for mode in names
    ]
    silver_table = writer._load(plan.silver[0][0])
    result.append(
        {
            "family": family,
            "rows": rows,
            "dedup_look_up_ms_median": {k: _median(v) for k, v in look_ups.items()},
            "silver_files": len(silver_table.file_uris()) if silver_table else 0,
        }
    )
    return result


def _look_up_with_in_list(processor: Any, batch: list[tuple]) -> set[str]:
    """The look-up as one SQL predicate listing every id (the slower way)."""
    from spark_streaming.event_time_state import time_ranges

    if not batch:
        return set()
    own = {(r[0], r[2], r[3]) for r in batch}
    quoted = ", ".join("'" + r[0].replace("'", "''") + "'" for r in batch)
    in_time = " OR ".join(
        f"(event_time >= '{low.isoformat()}' AND event_time <= '{high.isoformat()}')"
        for low, high in time_ranges((r[1] for r in batch), processor.delay)
    )
    found: set[str] = set()
    for spec, _ in processor.plan.silver:
        hits = processor.writer.read_arrow(
            spec,
            ["event_id", "kafka_partition", "kafka_offset"],
            f"event_id IN ({quoted}) AND ({in_time})",
        )
        if hits is not None:
            found |= {
                r["event_id"]
                for r in hits.to_pylist()
                if (r["event_id"], r["kafka_partition"], r["kafka_offset"]) not in own
            }
    return found


def _ms_since(began: float) -> float:
    return (time.monotonic() - began) * 1000


def _median(values: list[float] | list[int]) -> float | None:
    return round(statistics.median(values)) if values else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--family", default="sales", choices=["sales", "clickstream", "inventory"])
    parser.add_argument("--rows", type=int, default=1_000, help="Kafka records per batch")
    parser.add_argument("--batches", type=int, default=24)
    args = parser.parse_args()
    logs.configure("WARNING")
    for line in measure(args.family, args.rows, args.batches):
        print(json.dumps(line), flush=True)


if __name__ == "__main__":
    main()
