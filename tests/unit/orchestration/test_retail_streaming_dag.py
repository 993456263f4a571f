"""The DAG file parses cleanly, is configured as documented, and stays thin."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import tempfile
from datetime import timedelta
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
DAGS = REPO / "airflow" / "dags"

# Airflow reads its home when first imported: keep it out of ~/airflow
os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="airflow_home_"))
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")


@pytest.fixture(scope="module")
def dagbag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(DAGS))


def test_dag_folder_imports_without_errors(dagbag):
    assert dagbag.import_errors == {}
    assert list(dagbag.dags) == ["retail_streaming"]


def test_dag_schedule_catchup_tags_and_docs(dagbag):
    dag = dagbag.dags["retail_streaming"]
    assert dag.catchup is False
    assert dag.max_active_runs == 1
    assert dag.schedule == timedelta(minutes=30)
    assert {"retail", "snowflake", "dbt"} <= set(dag.tags)
    assert dag.doc_md and "Reloading a date range" in dag.doc_md


def test_every_task_retries_with_backoff_has_a_timeout_and_reports_failures(dagbag):
    dag = dagbag.dags["retail_streaming"]
    for task in dag.tasks:
        assert task.retries >= 2, task.task_id
        assert task.retry_exponential_backoff >= 2, task.task_id
        assert task.max_retry_delay == timedelta(minutes=10), task.task_id
        assert timedelta(0) < task.execution_timeout <= timedelta(hours=1), task.task_id
        assert task.on_failure_callback, task.task_id


def test_dbt_build_and_the_export_update_their_assets(dagbag):
    from retail_lakehouse import tables

    dag = dagbag.dags["retail_streaming"]
    marts = {a.name for a in dag.get_task("dbt_build").outlets}
    assert marts == {f"retail_lakehouse.analytics.{m.name}" for m in tables.ALL_MARTS}
    [csv] = dag.get_task("export_daily_kpis").outlets
    assert csv.name == "retail_lakehouse.outputs.aggregates_daily_csv"


def test_tasks_run_in_order(dagbag):
    dag = dagbag.dags["retail_streaming"]
    order = [
        "check_lake_freshness",
        "load_into_snowflake",
        "reload_date_range",
        "dbt_source_freshness",
        "dbt_build",
        "export_daily_kpis",
    ]
    assert sorted(t.task_id for t in dag.tasks) == sorted(order)
    for upstream, downstream in itertools.pairwise(order):
        assert dag.get_task(downstream).upstream_task_ids == {upstream}


def test_params_a_ui_run_can_set(dagbag):
    params = dagbag.dags["retail_streaming"].params
    assert params["max_lake_age_minutes"] == 60
    assert params["full_refresh"] is False
    assert params["reload_start_date"] is None and params["reload_end_date"] is None


def test_parsing_the_dag_imports_nothing_heavy():
    """No warehouse, dbt or Spark import (and so no connection) at parse time."""
    code = (
        "import json, sys;"
        "from airflow.dag_processing.dagbag import DagBag;"
        f"DagBag(dag_folder={str(DAGS)!r});"
        # the bare `snowflake` namespace package comes with the Snowflake provider's
        # installed distributions; the connector itself must not be imported
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('loaders', 'dbt', 'pyspark', 'fakesnow', 'deltalake') "
        "or m.startswith('snowflake.'))))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=os.environ
    )
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []
