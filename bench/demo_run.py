"""`make demo` as a user runs it, measured from outside: `lakehouse demo --events N` in
a subprocess with its own lake, checkpoints, warehouse emulator and outputs under the
bench's work folder (its own broker too: KAFKA_BOOTSTRAP_SERVERS is left unset).

Peak memory is the largest sum of the RSS of the demo's process tree at one moment
(the Python driver, Spark's JVM and its Python workers, the Kafka broker's JVM). The
steady-state p95 is the one the demo's own summary reports (outputs/demo_summary.json,
ops.stream_batches with the first data batch left out); the outside view over the
whole run is read from the demo lake's Delta logs beside it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench import latency
from bench.resources import ResourceSampler
from bench.stack import progress

# settings that would point the demo at something other than its own fresh folders
# (a real cluster, bucket or Snowflake account, the user's lake or warehouse)
_NOT_PASSED = ("KAFKA_", "SNOWFLAKE_", "S3_", "AWS_")
_OWN = ("LAKE_ROOT", "CHECKPOINT_ROOT", "WAREHOUSE_EMULATOR_PATH", "DBT_ARTIFACTS_PATH")


def demo_arguments(events: int, rate: float, warehouse: bool, history_days: int = 7) -> list[str]:
    """`lakehouse demo`'s arguments as `make demo EVENTS=N` passes them (and the rest)."""
    arguments = ["demo", "--events", str(events)]
    if rate != 1_000.0:  # the demo's default
        arguments += ["--rate", f"{rate:g}"]
    if not warehouse:
        arguments.append("--no-warehouse")
    if history_days != 7:  # the demo's default
        arguments += ["--history-days", str(history_days)]
    return arguments


def _program() -> list[str]:
    lakehouse = shutil.which("lakehouse", path=str(Path(sys.executable).parent))
    return [lakehouse] if lakehouse else [sys.executable, "-m", "lakehouse_cli.main"]


def demo_env(root: Path) -> dict[str, str]:
    from retail_lakehouse.jvm import jars_dir

    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(_NOT_PASSED) and k not in (*_OWN, "DAILY_KPIS_CSV")
    }
    env.update(
        LAKE_ROOT=str(root / "lake"),
        CHECKPOINT_ROOT=str(root / "checkpoints"),
        WAREHOUSE_EMULATOR_PATH=str(root / "warehouse"),
        DBT_ARTIFACTS_PATH=str(root / "dbt"),
        JVM_JARS_DIR=str(jars_dir()),
    )
    env.setdefault("PYSPARK_PYTHON", sys.executable)
    return env


def demo_run(
    work_dir: Path,
    events: int,
    *,
    rate: float,
    warehouse: bool,
    history_days: int = 7,
    timeout_s: float = 3_600.0,
) -> dict[str, Any]:
    root = work_dir / "demo"
    outputs = root / "outputs"
    outputs.mkdir(parents=True, exist_ok=True)
    arguments = demo_arguments(events, rate, warehouse, history_days)
    command = [*_program(), *arguments, "--outputs", str(outputs)]
    console = root / "demo.log"
    progress("demo", events=events, warehouse=warehouse, log=console)
    started = time.monotonic()
    with console.open("wb") as out:
        # the folder has no .env: the demo reads only what is passed here
        process = subprocess.Popen(
            command, cwd=root, env=demo_env(root), stdout=out, stderr=subprocess.STDOUT
        )
        sampler = ResourceSampler(root_pid=process.pid).start()
        try:
            code = process.wait(timeout=timeout_s)
        except BaseException:
            process.terminate()
            process.wait(timeout=60)
            raise
        finally:
            resources = sampler.stop()
    wall_s = time.monotonic() - started
    if code != 0:
        tail = console.read_text(errors="replace").strip().splitlines()[-15:]
        raise RuntimeError(f"`{' '.join(command)}` exited with {code}:\n" + "\n".join(tail))
    summary = json.loads((outputs / "demo_summary.json").read_text())
    lake = summary.get("lake") or {}
    samples = latency.lake_samples(str(root / "lake"))
    return {
        "events": events,
        "rate": rate,
        "warehouse": warehouse,
        "command": " ".join(["lakehouse", *arguments]),
        "wall_s": round(wall_s, 1),
        "peak_rss_gb": round(resources["peak_total_rss_mb"] * 2**20 / 1e9, 3),
        "resources": resources,
        "summary": {
            key: lake.get(key)
            for key in (
                "steady_latency_p50_ms",
                "steady_latency_p95_ms",
                "steady_latency_samples",
                "latency_p50_ms",
                "latency_p95_ms",
                "latency_samples",
                "batches",
            )
        }
        | {"wall_time_events_to_lake": summary.get("wall time (events to lake)")},
        # produce to visible over the whole demo, first batch included
        "outside": latency.outside_view(samples, 0, float("inf")),
    }
