"""
### Retail lakehouse: streaming lake -> Snowflake -> dbt KPI marts -> daily CSV

The streaming jobs keep the Delta lake current on their own, and `lakehouse load
--follow` keeps the minute-grain and today's marts within a minute of the till; this
DAG is the full rebuild, every 30 minutes:

1. **check_lake_freshness**: every event family's stream must have committed to its
   silver or gold tables within `max_lake_age_minutes`, else the run fails saying
   which stream is behind (loading a stale lake would publish stale KPIs as current).
2. **load_into_snowflake**: upserts what changed since the last load (the Delta change
   data feed), deletes included, into `SNOWFLAKE_SCHEMA`; the loader keeps its own state
   in the warehouse, so a `--follow` loader running beside it never doubles a row.
3. **reload_date_range**: only when `reload_start_date` is set (a run triggered with
   params): the lake's rows of those business dates are upserted into the warehouse
   again, which restores rows the warehouse lost or altered; otherwise it does nothing.
4. **dbt_source_freshness**: `dbt source freshness` of the landed tables (`_loaded_at`:
   warn after 6 hours, fail after 24).
5. **dbt_build**: one `dbt build` of the whole project (models, data tests, unit tests).
   `full_refresh` rebuilds the incremental models from scratch.
6. **export_daily_kpis**: `fct_daily_kpis` to `DAILY_KPIS_CSV`
   (`outputs/aggregates_daily.csv` by default).

**Failures.** Each task has a timeout. A failure that would only repeat (a failing dbt
test, rejected credentials, a landed table whose columns drifted, a missing mart) fails
the task at once; one that may heal (an unreachable warehouse, a stream restarting,
another load's race) is retried with backoff. Every failure is logged as one line
naming the task and the reason, and POSTed to `ALERT_WEBHOOK_URL` when it is set.

**Assets.** `dbt_build` updates one asset per mart (`retail_lakehouse.analytics.<mart>`),
`export_daily_kpis` the CSV; other DAGs can be scheduled on them.

**Reloading a date range**: Trigger DAG w/ config, set `reload_start_date` (and
`reload_end_date`, inclusive; default the start date). The marts are rebuilt from the
repaired tables by the same run.

The warehouse comes from the Airflow connection `retail_snowflake` (read through the
Snowflake provider's hook: key-pair fields work) when it exists, else from the
`SNOWFLAKE_*` environment (the fakesnow emulator when neither is set).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from airflow.sdk import Asset, Param, dag, get_current_context, task

# the marts dbt_build rebuilds (retail_lakehouse.tables.ALL_MARTS, named here so that
# parsing the DAG imports none of the project)
MARTS = (
    "fct_daily_kpis",
    "fct_product_sales_daily",
    "fct_product_sales_hourly",
    "fct_product_sales_minute",
    "fct_store_sales_daily",
    "fct_store_sales_hourly",
    "fct_inventory_health",
    "fct_customer_lifetime_value",
    "fct_aov_by_discount_band",
    "fct_funnel_by_product",
    "fct_funnel_by_category",
    "fct_pipeline_health",
)
MART_ASSETS = [Asset(name=f"retail_lakehouse.analytics.{m}", group="retail_marts") for m in MARTS]
DAILY_CSV_ASSET = Asset(name="retail_lakehouse.outputs.aggregates_daily_csv", group="retail_marts")


def _report_failure(context) -> None:
    from loaders.dag_support import report_failure

    report_failure(context)


DEFAULT_ARGS = {
    "owner": "retail-lakehouse",
    "retries": 3,
    "retry_delay": timedelta(seconds=30),
    # 30 s, 60 s, 120 s: a warehouse hiccup or a stream restart usually heals in that time
    "retry_exponential_backoff": 2.0,
    "max_retry_delay": timedelta(minutes=10),
    "execution_timeout": timedelta(minutes=20),
    "on_failure_callback": _report_failure,
}


def _settings():
    # imported inside tasks: nothing heavy, and no connection, at DAG parse time
    from loaders.airflow_connection import settings_for_task

    return settings_for_task()


def _params() -> dict:
    return dict(get_current_context()["params"])


def _fail_fast():
    from loaders.dag_support import no_retry_when_deterministic

    return no_retry_when_deterministic()


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
            description="First business date (YYYY-MM-DD) to reload; empty for a normal run.",
        ),
        "reload_end_date": Param(
            None,
            type=["null", "string"],
            format="date",
            description="Last business date to reload (inclusive); defaults to the start date.",
        ),
    },
)
def retail_streaming():
    @task(execution_timeout=timedelta(minutes=5))
    def check_lake_freshness() -> dict:
        from loaders.warehouse_pipeline import check_freshness_step

        with _fail_fast():
            return check_freshness_step(_settings(), _params()["max_lake_age_minutes"])

    @task(execution_timeout=timedelta(minutes=45))
    def load_into_snowflake() -> dict:
        from loaders.warehouse_pipeline import load_step

        with _fail_fast():
            return load_step(_settings())

    @task(execution_timeout=timedelta(minutes=45))
    def reload_date_range() -> dict:
        from loaders.warehouse_pipeline import reload_step

        params = _params()
        with _fail_fast():
            return reload_step(_settings(), params["reload_start_date"], params["reload_end_date"])

    @task(execution_timeout=timedelta(minutes=10))
    def dbt_source_freshness() -> dict:
        from loaders.warehouse_pipeline import source_freshness_step

        with _fail_fast():
            return source_freshness_step(_settings())

    @task(execution_timeout=timedelta(minutes=60), outlets=MART_ASSETS)
    def dbt_build() -> dict:
        from loaders.warehouse_pipeline import dbt_build_step

        with _fail_fast():
            return dbt_build_step(_settings(), full_refresh=bool(_params()["full_refresh"]))

    @task(execution_timeout=timedelta(minutes=5), outlets=[DAILY_CSV_ASSET])
    def export_daily_kpis() -> dict:
        from loaders.warehouse_pipeline import export_step

        with _fail_fast():
            return export_step(_settings())

    (
        check_lake_freshness()
        >> load_into_snowflake()
        >> reload_date_range()
        >> dbt_source_freshness()
        >> dbt_build()
        >> export_daily_kpis()
    )


retail_streaming()
