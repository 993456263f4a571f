"""
### Retail lakehouse: streaming lake -> Snowflake -> dbt KPI marts -> daily CSV

The streaming jobs keep the Delta lake current on their own; this DAG takes what they
wrote into the warehouse every 30 minutes:

1. **check_lake_freshness**: every event family's stream must have committed to its
   silver or gold tables within `max_lake_age_minutes`, else the run fails saying
   which stream is behind (loading a stale lake would publish stale KPIs as current).
2. **load_into_snowflake**: upserts what changed since the last load, by Delta
   version, into `SNOWFLAKE_SCHEMA` (the loader keeps its own state in the warehouse).
3. **reload_date_range**: only when `reload_start_date` is set (a run triggered with
   params): the lake's rows of those sales dates are upserted into the warehouse again,
   through the loader's staging and MERGE, which restores rows the warehouse lost or
   altered; otherwise it does nothing.
4. **dbt_build**: one `dbt build` of the whole project (models, data tests, unit tests).
   `full_refresh` rebuilds the incremental models from scratch.
5. **export_daily_kpis**: `fct_daily_kpis` to `DAILY_KPIS_CSV`
   (`outputs/aggregates_daily.csv` by default).

**Reloading a date range**: Trigger DAG w/ config, set `reload_start_date` (and
`reload_end_date`, inclusive; default the start date). The marts are rebuilt from the
repaired tables by the same run.

The warehouse comes from the Airflow connection `retail_snowflake` when it exists,
else from the `SNOWFLAKE_*` environment (the fakesnow emulator when neither is set).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from airflow.sdk import Param, dag, get_current_context, task

DEFAULT_ARGS = {
    "owner": "retail-lakehouse",
    "retries": 3,
    "retry_delay": timedelta(seconds=30),
    # 30 s, 60 s, 120 s: a warehouse hiccup or a stream restart usually heals in that time
    "retry_exponential_backoff": 2.0,
    "max_retry_delay": timedelta(minutes=10),
}


def _settings():
    # imported inside tasks: nothing heavy, and no connection, at DAG parse time
    from loaders.airflow_connection import settings_for_task

    return settings_for_task()


def _params() -> dict:
    return dict(get_current_context()["params"])


@dag(
    dag_id="retail_streaming",
    doc_md=__doc__,
    schedule=timedelta(minutes=30),
    start_date=datetime(2026, 1, 1, tzinfo=UTC),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    dagrun_timeout=timedelta(hours=2),
    tags=["retail", "lakehouse", "snowflake", "dbt"],
    params={
        "max_lake_age_minutes": Param(
            60,
            type="number",
            exclusiveMinimum=0,
            description="Fail unless every stream committed to the lake within this many minutes.",
        ),
        "full_refresh": Param(
            False, type="boolean", description="Rebuild incremental dbt models from scratch."
        ),
        "reload_start_date": Param(
            None,
            type=["null", "string"],
            format="date",
            description="First sales date (YYYY-MM-DD) to reload; empty for a normal run.",
        ),
        "reload_end_date": Param(
            None,
            type=["null", "string"],
            format="date",
            description="Last sales date to reload (inclusive); defaults to the start date.",
        ),
    },
)
def retail_streaming():
    @task
    def check_lake_freshness() -> dict:
        from loaders.warehouse_pipeline import check_freshness_step

        return check_freshness_step(_settings(), _params()["max_lake_age_minutes"])

    @task
    def load_into_snowflake() -> dict:
        from loaders.warehouse_pipeline import load_step

        return load_step(_settings())

    @task
    def reload_date_range() -> dict:
        from loaders.warehouse_pipeline import reload_step

        params = _params()
        return reload_step(_settings(), params["reload_start_date"], params["reload_end_date"])

    @task
    def dbt_build() -> dict:
        from loaders.warehouse_pipeline import dbt_build_step

        return dbt_build_step(_settings(), full_refresh=bool(_params()["full_refresh"]))

    @task
    def export_daily_kpis() -> dict:
        from loaders.warehouse_pipeline import export_step

        return export_step(_settings())

    (
        check_lake_freshness()
        >> load_into_snowflake()
        >> reload_date_range()
        >> dbt_build()
        >> export_daily_kpis()
    )


retail_streaming()
