"""The retail_streaming DAG end to end on a real small lake, two ways:

- `dag.test()`: every task runs for real (freshness check, loader into the fakesnow
  emulator, dbt build, CSV export); the CSV must equal the daily KPIs computed
  independently with DuckDB from the lake's silver Delta tables, compared whole;
- the UI path: `airflow standalone` on a free port, the DAG triggered through the REST
  API (/api/v2, with the token the standalone login gives), waited on until it succeeds,
  and the health endpoint checked.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from deltalake import DeltaTable
from kpi_expectations import assert_same_table
from small_lake import build_small_lake

from mock.airflow_local import DAG_ID, DAGS_FOLDER, LocalAirflow, airflow_environment
from retail_lakehouse import lake, tables, warehouse
from retail_lakehouse.settings import Settings

pytestmark = pytest.mark.integration

HERE = Path(__file__).resolve().parent


@pytest.fixture(scope="module")
def small_lake(spark, tmp_path_factory) -> Settings:
    return build_small_lake(spark, tmp_path_factory.mktemp("dag_lake"), "dag")


def project_environment(settings: Settings, root: Path, port: int = 8080) -> dict[str, str]:
    """What a deployment would set: the lake, a fresh emulated warehouse, the CSV path."""
    base = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SNOWFLAKE_", "KAFKA_", "AIRFLOW", "LAKE_", "DAILY_KPIS"))
    }
    base.update(
        {
            # Airflow's log servers on ports of their own, never a running Airflow's
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(_free_port()),
            "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(_free_port()),
            "LAKE_ROOT": settings.resolved_lake_root,
            "WAREHOUSE_EMULATOR_PATH": str(root / "warehouse"),
            "DAILY_KPIS_CSV": str(root / "outputs" / "aggregates_daily.csv"),
            "DBT_ARTIFACTS_PATH": str(root / "dbt_artifacts"),
        }
    )
    return airflow_environment(root / "airflow_home", port, base)


def expected_daily_kpis(settings: Settings) -> pd.DataFrame:
    """The contract's daily KPIs from silver.sales_lines, reference.stores and
    ops.stream_batches, in DuckDB (none of the dbt SQL): orders per business date (the
    store's local date), units, revenue, average order value, and the p95 over the sales
    stream's latency samples of the batches whose newest event fell on that date (web
    store zone)."""

    def read(spec):
        uri = lake.uri(settings, spec)
        return DeltaTable(uri, storage_options=lake.storage_options(settings)).to_pyarrow_table()

    db = duckdb.connect()
    db.execute("SET TimeZone = 'UTC'")
    db.register("sales_lines", read(tables.SILVER_SALES_LINES))
    db.register("stores", read(tables.STORES))
    db.register("stream_batches", read(tables.STREAM_BATCHES))
    rows = db.execute(
        """
        with lines as (
            select l.*, coalesce(s.time_zone, ?) as time_zone
            from sales_lines l left join stores s using (store_id)
        ),
        orders as (
            select transaction_id, min(timezone(time_zone, event_time))::date as day,
                   sum(quantity) as units, sum(line_revenue) as revenue
            from lines group by transaction_id
        ),
        daily as (
            select day, count(*) as orders, sum(units) as units, sum(revenue) as revenue
            from orders group by day
        ),
        samples as (
            select timezone(?, coalesce(max_event_time, committed_at))::date as day,
                   unnest(latency_sample_ms) as ms
            from stream_batches where family = 'sales'
        ),
        latency as (
            select day, quantile_cont(ms, 0.95) as latency_ms from samples group by day
        )
        select daily.day, orders, revenue, units, latency_ms
        from daily left join latency using (day) order by daily.day
        """,
        [settings.web_store_time_zone, settings.web_store_time_zone],
    ).fetchall()
    cents, tenth = Decimal("0.01"), Decimal("0.1")
    return pd.DataFrame(
        [
            {
                "date": day.isoformat(),
                "orders": str(orders),
                "revenue_usd": str(Decimal(revenue).quantize(cents)),
                "avg_order_value_usd": str(
                    (Decimal(revenue) / orders).quantize(cents, rounding=ROUND_HALF_UP)
                ),
                "units": str(units),
                "streaming_latency_ms": (
                    "" if latency is None else str(Decimal(str(round(latency, 1))).quantize(tenth))
                ),
            }
            for day, orders, revenue, units, latency in rows
        ],
        columns=list(tables.AGGREGATES_DAILY_COLUMNS),
    )


def read_csv(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def assert_same_csv(path: Path, expected: pd.DataFrame) -> None:
    """The exported CSV against the independent figures: every column as text, except
    the day's p95 latency, which the warehouse and DuckDB each round to 0.1 ms on their
    own (a tie such as 25940.25 rounds either way): one step apart, as every mart test
    allows (`kpi_expectations.TOLERANCE`)."""
    actual = read_csv(path)
    assert list(actual.columns) == list(expected.columns)
    empty_is_null = {"streaming_latency_ms": {"": None}}
    assert_same_table(
        actual.replace(empty_is_null), expected.replace(empty_is_null), ["date"], path.name
    )


TASKS = (
    "check_lake_freshness",
    "load_into_snowflake",
    "reload_date_range",
    "dbt_source_freshness",
    "dbt_build",
    "export_daily_kpis",
)


def run_dag_test(env: dict[str, str], cwd: Path, conf: dict) -> None:
    """One `dag.test()` run in its own process; every task must succeed."""
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, str(HERE / "airflow_dag_run.py"), str(DAGS_FOLDER), json.dumps(conf)],
        env=env, cwd=cwd, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    print(f"dag.test() with {conf} took {time.monotonic() - started:.1f}s")
    lines = [line for line in done.stdout.splitlines() if line.startswith("DAG_RUN ")]
    assert done.returncode == 0 and lines, done.stdout[-3000:] + done.stderr[-5000:]
    run = json.loads(lines[-1].removeprefix("DAG_RUN "))
    assert run == {"state": "success", "tasks": dict.fromkeys(TASKS, "success")}, done.stderr[
        -5000:
    ]


def delete_landed_sales_of(settings: Settings, day: str) -> int:
    """What a bad manual DELETE in the warehouse would do to one UTC date of sales."""
    with warehouse.connect(settings) as conn, conn.cursor() as cursor:
        cursor.execute(
            f"DELETE FROM {tables.SILVER_SALES_LINES.warehouse_name} "
            "WHERE CAST(EVENT_TIME AS DATE) = %s",
            (day,),
        )
        return int(cursor.rowcount or 0)


def test_dag_test_run_writes_the_daily_kpis_and_reloads_a_date_range(small_lake, tmp_path):
    env = project_environment(small_lake, tmp_path)
    subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"],
        env=env, cwd=tmp_path, check=True, capture_output=True, timeout=900,
    )  # fmt: skip
    csv = Path(env["DAILY_KPIS_CSV"])
    expected = expected_daily_kpis(small_lake)
    assert len(expected) >= 3, "the small lake should span several sales dates"

    run_dag_test(env, tmp_path, {"max_lake_age_minutes": 30})
    assert_same_csv(csv, expected)

    # the warehouse loses a day's sales; the lake still has them (and a load alone would
    # not bring them back: the lake has no new version)
    day = expected["date"].iloc[1]
    landed = small_lake.model_copy(
        update={"warehouse_emulator_path": env["WAREHOUSE_EMULATOR_PATH"]}
    )
    assert delete_landed_sales_of(landed, day) > 0

    run_dag_test(
        env,
        tmp_path,
        {"max_lake_age_minutes": 30, "reload_start_date": day, "reload_end_date": day},
    )
    assert_same_csv(csv, expected)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_dag_triggered_through_the_airflow_rest_api_succeeds(small_lake, tmp_path):
    port = _free_port()
    env = project_environment(small_lake, tmp_path, port)
    log_path = tmp_path / "standalone.log"
    with (
        log_path.open("wb") as log,
        LocalAirflow(tmp_path / "airflow_home", port, env=env, output=log) as airflow,
    ):
        try:
            health = airflow.wait_healthy(timeout_s=240)
            assert health["metadatabase"]["status"] == "healthy"
            assert health["scheduler"]["status"] == "healthy"
            _wait_for(lambda: _dag_parsed(airflow), 120, "the DAG to be parsed")
            airflow.request("PATCH", f"/api/v2/dags/{DAG_ID}", {"is_paused": False})
            run = airflow.request(
                "POST",
                f"/api/v2/dags/{DAG_ID}/dagRuns",
                {"logical_date": None, "conf": {"max_lake_age_minutes": 30}},
            )
            run_id = run["dag_run_id"]
            _wait_for(
                lambda: _run_state(airflow, run_id) in ("success", "failed"),
                420,
                f"run {run_id} to finish",
            )
            tasks = airflow.get(f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances")
            states = {t["task_id"]: t["state"] for t in tasks["task_instances"]}
            assert _run_state(airflow, run_id) == "success", (states, _tail(log_path))
            assert set(states.values()) == {"success"}
            assert (
                airflow.get("/api/v2/monitor/health", auth=False)["scheduler"]["status"]
                == "healthy"
            )
        finally:
            log.flush()
    assert_same_csv(Path(env["DAILY_KPIS_CSV"]), expected_daily_kpis(small_lake))


def _dag_parsed(airflow: LocalAirflow) -> bool:
    try:
        return airflow.get(f"/api/v2/dags/{DAG_ID}")["dag_id"] == DAG_ID
    except Exception:
        return False


def _run_state(airflow: LocalAirflow, run_id: str) -> str:
    return str(airflow.get(f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}")["state"])


def _wait_for(predicate, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout_s:.0f}s waiting for {what}")
        time.sleep(2)


def _tail(path: Path, lines: int = 60) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
