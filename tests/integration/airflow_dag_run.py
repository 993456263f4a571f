"""Run the retail_streaming DAG once with `dag.test()` and print what happened as JSON.

Started as its own process by test_airflow_dag.py, so that Airflow reads a temporary
AIRFLOW_HOME and the project reads the test's lake and warehouse from the environment.

    python airflow_dag_run.py DAG_FOLDER '{"max_lake_age_minutes": 30}'
"""

from __future__ import annotations

import json
import sys

from airflow.utils.cli import get_bagged_dag


def main(dag_folder: str, conf: str) -> None:
    # parsed and serialized to the metadatabase, as `airflow dags test` does: Airflow 3.3
    # refuses to create a run of a DAG that is not serialized
    dag = get_bagged_dag(None, "retail_streaming", dag_folder)
    run = dag.test(run_conf=json.loads(conf))
    states = {ti.task_id: _text(ti.state) for ti in run.get_task_instances()}
    print("DAG_RUN " + json.dumps({"state": _text(run.state), "tasks": states}), flush=True)


def _text(state: object) -> str:
    return str(getattr(state, "value", state))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
