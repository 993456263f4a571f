"""dbt build of the KPI marts on the fakesnow emulator, every mart checked against pandas.

Four simulated days of the seeded shop are landed exactly as the loaders land them:
a young demand window (four days, not seven), sessions that cart a product more than
once, late events, and sales in the US evening whose store's business date is the UTC
date before. `dbt build` (models, data tests, unit tests) must pass; then each mart must
equal an independent pandas computation from the landed silver facts
(kpi_expectations.py, none of the models' SQL), compared as whole tables.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta

import numpy as np
import pandas as pd
import pytest
from kpi_expectations import (
    assert_same_table,
    expected_aov_by_band,
    expected_customer_lifetime_value,
    expected_daily_kpis,
    expected_funnel_by_category,
    expected_funnel_by_product,
    expected_inventory_health,
    expected_pipeline_health,
    expected_product_sales_daily,
    expected_product_sales_hourly,
    expected_product_sales_minute,
    expected_store_sales_daily,
    expected_store_sales_hourly,
    localized_sales_lines,
    normalized,
    read_mart,
)
from landed_warehouse import landed_tables, seed_warehouse, simulate

from loaders.follow import live_selection
from loaders.kpi_models import KpiBuildReport, KpiModelsError, build_kpi_models
from retail_lakehouse import tables
from retail_lakehouse.settings import Settings
from retail_lakehouse.tables import MartSpec
from spark_streaming.batch_metrics import LATENCY_SAMPLE_SIZE

pytestmark = [
    pytest.mark.integration,
    # fakesnow warns on every Arrow fetch dbt makes
    pytest.mark.filterwarnings("ignore::UserWarning"),
]

SIMULATED_DAYS = 4


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    root = tmp_path_factory.mktemp("dbt_warehouse")
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        snowflake_account=None,
        snowflake_host=None,
        warehouse_emulator_path=str(root / "emulator"),
        dbt_artifacts_path=str(root / "dbt_artifacts"),
    )


@pytest.fixture(scope="module")
def landed() -> dict[str, pd.DataFrame]:
    catalog, records = simulate(days=SIMULATED_DAYS)
    return landed_tables(catalog, records)


@pytest.fixture(scope="module")
def first_build(settings: Settings, landed: dict[str, pd.DataFrame]) -> KpiBuildReport:
    seed_warehouse(settings, landed)
    return build_kpi_models(settings)


def test_dbt_build_passes_models_tests_and_unit_tests(
    settings: Settings, first_build: KpiBuildReport
) -> None:
    assert first_build.success, first_build.failures
    assert first_build.models_failed == first_build.tests_failed == 0
    assert first_build.unit_tests_failed == 0
    assert first_build.models_passed >= len(tables.ALL_MARTS)
    assert first_build.unit_tests_passed >= len(tables.ALL_MARTS)
    assert first_build.tests_passed >= 3 * len(tables.ALL_MARTS)
    for mart in tables.ALL_MARTS:
        columns = list(read_mart(settings, mart.name).columns)
        missing = [c for c in mart.columns if c not in columns]
        assert not missing, f"{mart.name} lacks contract columns {missing}"


def test_the_data_holds_the_cases_the_marts_must_get_right(landed) -> None:
    lines = localized_sales_lines(landed)
    span = lines["EVENT_TIME"].max() - lines["EVENT_TIME"].min()
    assert timedelta(days=2) < span < timedelta(days=7), "a young demand window"
    evening = lines[lines["SALES_DATE"] != lines["EVENT_TIME"].dt.date]
    assert len(evening) >= 5 and set(evening["TIME_ZONE"]) - {"UTC"}, "local days differ"
    clicks = landed[tables.SILVER_CLICKSTREAM.warehouse_name]
    carts = clicks[clicks["EVENT_TYPE"] == "cart"].groupby(["USER_SESSION", "PRODUCT_ID"]).size()
    assert (carts > 1).sum() > 5, "sessions that cart a product again"
    assert lines["IS_LATE"].any() and clicks["IS_LATE"].any(), "late events"
    samples = landed[tables.STREAM_BATCHES.warehouse_name]["LATENCY_SAMPLE_MS"]
    assert sum(len(json.loads(s)) for s in samples) > 100


def _aov_bands(landed: dict[str, pd.DataFrame]) -> pd.DataFrame:
    return expected_aov_by_band(landed)


MARTS: list[tuple[MartSpec, Callable[[dict], pd.DataFrame], tuple[str, ...]]] = [
    (tables.DAILY_KPIS, expected_daily_kpis, tables.DAILY_KPIS.columns),
    (tables.PRODUCT_SALES_DAILY, expected_product_sales_daily, tables.PRODUCT_SALES_DAILY.columns),
    (
        tables.PRODUCT_SALES_HOURLY,
        expected_product_sales_hourly,
        tables.PRODUCT_SALES_HOURLY.columns,
    ),
    (
        tables.PRODUCT_SALES_MINUTE,
        expected_product_sales_minute,
        # loaded_at is when the loader landed the window, not a sales figure
        tables.PRODUCT_SALES_MINUTE.columns[:-1],
    ),
    (tables.STORE_SALES_DAILY, expected_store_sales_daily, tables.STORE_SALES_DAILY.columns),
    (tables.STORE_SALES_HOURLY, expected_store_sales_hourly, tables.STORE_SALES_HOURLY.columns),
    (tables.INVENTORY_HEALTH, expected_inventory_health, tables.INVENTORY_HEALTH.columns),
    (
        tables.CUSTOMER_LIFETIME_VALUE,
        expected_customer_lifetime_value,
        tables.CUSTOMER_LIFETIME_VALUE.columns,
    ),
    (
        tables.AOV_BY_DISCOUNT_BAND,
        _aov_bands,
        (
            "discount_band",
            "orders",
            "units",
            "gross_usd",
            "discount_usd",
            "revenue_usd",
            "avg_order_value_usd",
        ),
    ),
    (tables.FUNNEL_BY_PRODUCT, expected_funnel_by_product, tables.FUNNEL_BY_PRODUCT.columns),
    (tables.FUNNEL_BY_CATEGORY, expected_funnel_by_category, tables.FUNNEL_BY_CATEGORY.columns),
    (
        tables.PIPELINE_HEALTH,
        expected_pipeline_health,
        (*tables.PIPELINE_HEALTH.columns, "quarantined_events_landed"),
    ),
]


@pytest.mark.parametrize(("mart", "expected", "columns"), MARTS, ids=[m.name for m, _, _ in MARTS])
def test_mart_equals_the_independent_computation(
    settings: Settings,
    landed: dict[str, pd.DataFrame],
    first_build: KpiBuildReport,
    mart: MartSpec,
    expected: Callable[[dict], pd.DataFrame],
    columns: tuple[str, ...],
) -> None:
    actual = normalized(read_mart(settings, mart.name), columns)
    wanted = normalized(expected(landed), columns)
    assert len(wanted) > 0, f"no expected rows for {mart.name}"
    assert_same_table(actual, wanted, list(mart.grain), mart.name)


def test_second_run_passes_and_the_incremental_marts_take_what_landed_since(
    settings: Settings, landed: dict[str, pd.DataFrame], first_build: KpiBuildReport
) -> None:
    """The stream keeps merging into open windows and the loader re-lands them with a
    newer _LOADED_AT, new sales land, and a batch keeping the most latency samples an
    ops row holds lands: a refresh as `lakehouse load --follow` runs it (the incremental
    models only) must replace those windows and add new ones, unnest every sample of the
    new batch, and rebuild that day's KPIs and its latency."""
    minute = tables.SALES_BY_PRODUCT_MINUTE.warehouse_name
    gold = landed[minute].copy()
    later = gold["_LOADED_AT"].max() + timedelta(hours=1)
    last = gold["WINDOW_START"].max()
    updated = gold[gold["WINDOW_START"] == last].copy()
    updated["ORDERS"] += 1
    updated["UNITS"] += 2
    new_window = updated.copy()
    new_window["WINDOW_START"] += timedelta(minutes=1)
    new_window["WINDOW_END"] += timedelta(minutes=1)
    changed = pd.concat([updated, new_window]).assign(_LOADED_AT=later)
    regathered = pd.concat([gold[gold["WINDOW_START"] != last], changed], ignore_index=True)
    lines_name = tables.SILVER_SALES_LINES.warehouse_name
    lines = landed[lines_name]
    extra = lines[lines["EVENT_TIME"] == lines["EVENT_TIME"].max()].copy()
    extra["EVENT_ID"] = extra["EVENT_ID"] + "-again"
    extra["TRANSACTION_ID"] = extra["TRANSACTION_ID"] + "-again"
    more_lines = pd.concat([lines, extra.assign(_LOADED_AT=later)], ignore_index=True)
    batches_name = tables.STREAM_BATCHES.warehouse_name
    batches = landed[batches_name]
    newest = batches[batches["FAMILY"] == "sales"].sort_values("COMMITTED_AT").tail(1)
    # distinct values, shuffled: the day's p95 falls among them and moves if any is missed
    samples = np.random.default_rng(16).permutation(LATENCY_SAMPLE_SIZE) + 60_000
    big_batch = newest.assign(
        BATCH_ID=newest["BATCH_ID"] + 1_000,
        LATENCY_SAMPLE_MS=json.dumps(samples.tolist()),
        _LOADED_AT=later,
    )
    more_batches = pd.concat([batches, big_batch], ignore_index=True)
    seed_warehouse(
        settings, {minute: regathered, lines_name: more_lines, batches_name: more_batches}
    )

    second = build_kpi_models(
        settings, select=live_selection(upstream=False), exclude="resource_type:unit_test"
    )

    assert second.success and second.models_failed == 0 and second.tests_failed == 0
    actual = read_mart(settings, "fct_product_sales_minute")
    products = landed[tables.PRODUCTS.warehouse_name][["PRODUCT_ID", "PRODUCT_NAME"]]
    expected = regathered.merge(products, on="PRODUCT_ID", how="left").rename(columns=str.lower)
    keys = ["window_start", "product_id"]
    columns = ["window_start", "window_end", "product_id", "product_name", "orders", "units"]
    pd.testing.assert_frame_equal(
        normalized(actual, columns).sort_values(keys).reset_index(drop=True),
        normalized(expected, columns).sort_values(keys).reset_index(drop=True),
        check_dtype=False,
    )
    relanded = {**landed, lines_name: more_lines, batches_name: more_batches}
    assert_same_table(
        normalized(read_mart(settings, "fct_daily_kpis"), tables.DAILY_KPIS.columns),
        expected_daily_kpis(relanded),
        ["kpi_date"],
        "fct_daily_kpis after an incremental run",
    )


def test_a_failing_model_is_named_in_the_error(
    settings: Settings, first_build: KpiBuildReport
) -> None:
    broken = settings.model_copy(
        update={"snowflake_schema": "NOT_LANDED", "snowflake_analytics_schema": "BROKEN"}
    )
    with pytest.raises(KpiModelsError, match=r"model\.retail_lakehouse\.stg_lake__products"):
        build_kpi_models(broken, select="stg_lake__products")
