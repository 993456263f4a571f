"""dbt build of the KPI marts on the fakesnow emulator, checked against pandas.

Four simulated days of the seeded shop are landed exactly as the loaders land them;
`dbt build` (models, data tests, unit tests) must pass twice, and the daily KPIs and
the AOV by discount band must equal an independent pandas computation from the
landed silver facts, compared as whole frames.
"""

from __future__ import annotations

from datetime import timedelta

import pandas as pd
import pytest
from kpi_expectations import expected_aov_by_band, expected_daily_kpis, normalized, read_mart
from landed_warehouse import landed_tables, seed_warehouse, simulate

from loaders.kpi_models import KpiBuildReport, KpiModelsError, build_kpi_models
from retail_lakehouse import tables
from retail_lakehouse.settings import Settings

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


def test_daily_kpis_equal_pandas_from_silver(
    settings: Settings, landed: dict[str, pd.DataFrame], first_build: KpiBuildReport
) -> None:
    actual = normalized(read_mart(settings, "fct_daily_kpis"), tables.DAILY_KPIS.columns)
    expected = expected_daily_kpis(landed)
    assert len(expected) >= SIMULATED_DAYS
    pd.testing.assert_frame_equal(
        actual.sort_values("kpi_date").reset_index(drop=True), expected, check_dtype=False
    )


def test_aov_by_discount_band_equals_pandas_from_silver(
    settings: Settings, landed: dict[str, pd.DataFrame], first_build: KpiBuildReport
) -> None:
    columns = ("discount_band", "orders", "units", "gross_usd", "discount_usd", "revenue_usd",
               "avg_order_value_usd")  # fmt: skip
    actual = normalized(read_mart(settings, "fct_aov_by_discount_band"), columns)
    expected = expected_aov_by_band(landed)
    assert expected["discount_band"].nunique() >= 4  # the simulator's bands all show up
    pd.testing.assert_frame_equal(
        actual.sort_values("discount_band").reset_index(drop=True),
        expected.sort_values("discount_band").reset_index(drop=True),
        check_dtype=False,
    )


def test_second_run_passes_and_the_minute_mart_takes_updated_windows(
    settings: Settings, landed: dict[str, pd.DataFrame], first_build: KpiBuildReport
) -> None:
    """The stream keeps merging into open windows and the loader re-lands them with a
    newer _LOADED_AT: the incremental mart must replace those windows and add new ones."""
    name = tables.SALES_BY_PRODUCT_MINUTE.warehouse_name
    gold = landed[name].copy()
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
    seed_warehouse(settings, {name: regathered})

    # the incremental mart and the two marts checked above, with their data tests (the
    # unit tests ran in the first build and do not depend on the data)
    second = build_kpi_models(
        settings,
        select=["fct_product_sales_minute", "fct_daily_kpis", "fct_aov_by_discount_band"],
        exclude="resource_type:unit_test",
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


def test_a_failing_model_is_named_in_the_error(
    settings: Settings, first_build: KpiBuildReport
) -> None:
    broken = settings.model_copy(
        update={"snowflake_schema": "NOT_LANDED", "snowflake_analytics_schema": "BROKEN"}
    )
    with pytest.raises(KpiModelsError, match=r"model\.retail_lakehouse\.stg_lake__products"):
        build_kpi_models(broken, select="stg_lake__products")
