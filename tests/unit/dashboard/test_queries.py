"""Each panel's SQL against literal marts in a temp fakesnow warehouse, compared with
pandas computations over the same literal rows; and the pure shaping helpers."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pandas.testing as pdt
import pytest
from dashboard_marts import DAILY_KPIS, ROWS, TODAY, TYPES, build_marts

from dashboard import queries
from retail_lakehouse import tables, warehouse
from retail_lakehouse.settings import Settings

# fakesnow's own note about Arrow copies, not ours
pytestmark = pytest.mark.filterwarnings("ignore:Arrow output:UserWarning")


def _frame(mart: str) -> pd.DataFrame:
    """The literal rows of a mart as pandas, numbers as floats."""
    frame = pd.DataFrame(ROWS[mart], columns=list(TYPES[mart]))
    for column, kind in TYPES[mart].items():
        if kind.startswith("NUMBER") or kind == "FLOAT":
            frame[column] = frame[column].astype("float64")
        elif kind == "TIMESTAMP_NTZ":
            frame[column] = pd.to_datetime(frame[column])
    return frame


@pytest.fixture(scope="module")
def panels(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, pd.DataFrame]]:
    path = tmp_path_factory.mktemp("warehouse")
    settings = Settings(
        warehouse_emulator_path=str(path), snowflake_account=None, snowflake_host=None
    )
    build_marts(settings)
    schema = settings.snowflake_analytics_schema
    with warehouse.connect(settings, schema=schema) as conn:
        frames = {panel.title: queries.load_panel(conn, panel) for panel in queries.ALL_PANELS}
        frames["present"] = pd.DataFrame({"name": sorted(queries.existing_marts(conn, schema))})
    yield frames


def _same(actual: pd.DataFrame, expected: pd.DataFrame) -> None:
    pdt.assert_frame_equal(
        actual.reset_index(drop=True).astype(
            {c: "float64" for c in actual.select_dtypes("number")}
        ),
        expected.reset_index(drop=True).astype(
            {c: "float64" for c in expected.select_dtypes("number")}
        ),
        check_dtype=False,
        check_exact=False,
        atol=0.005,
    )


def test_every_mart_is_found(panels: dict[str, pd.DataFrame]) -> None:
    assert set(panels["present"]["name"]) >= {spec.name for spec in tables.ALL_MARTS}


def test_today_is_the_latest_kpi_date_with_the_day_before(panels: dict[str, pd.DataFrame]) -> None:
    kpis = queries.today_kpis(panels[queries.TODAY_KPIS.title])
    assert kpis is not None and kpis.previous is not None
    today, yesterday = DAILY_KPIS[-1], DAILY_KPIS[-2]
    assert pd.Timestamp(kpis.kpi_date) == pd.Timestamp(TODAY)
    assert (kpis.orders, kpis.units) == (today[1], today[2])
    assert kpis.revenue_usd == pytest.approx(float(today[3]))
    assert kpis.avg_order_value_usd == pytest.approx(float(today[4]))
    assert kpis.previous.orders == yesterday[1]
    assert kpis.previous.revenue_usd == pytest.approx(float(yesterday[3]))


def test_recent_product_sales_are_the_last_minutes(panels: dict[str, pd.DataFrame]) -> None:
    rows = _frame("fct_product_sales_minute")
    newest = rows["window_start"].max()
    expected = rows[
        rows["window_start"] > newest - timedelta(minutes=queries.RECENT_MINUTES)
    ].sort_values(["window_start", "product_id"])[
        ["window_start", "product_id", "product_name", "orders", "units", "revenue_usd"]
    ]
    actual = panels[queries.RECENT_PRODUCT_SALES.title]
    actual["window_start"] = pd.to_datetime(actual["window_start"])
    assert actual["window_start"].nunique() == queries.RECENT_MINUTES
    _same(actual, expected)


def test_store_daily_sums_channels_over_the_last_days(panels: dict[str, pd.DataFrame]) -> None:
    rows = _frame("fct_store_sales_daily")
    rows["sales_date"] = pd.to_datetime(rows["sales_date"])
    newest = rows["sales_date"].max()
    expected = (
        rows[rows["sales_date"] > newest - timedelta(days=queries.STORE_DAYS)]
        .groupby(["sales_date", "store_id", "store_name"], as_index=False)[
            ["orders", "units", "revenue_usd"]
        ]
        .sum()
    )
    actual = panels[queries.STORE_DAILY.title]
    actual["sales_date"] = pd.to_datetime(actual["sales_date"])
    _same(actual, expected)


def test_store_hourly_is_the_latest_day(panels: dict[str, pd.DataFrame]) -> None:
    rows = _frame("fct_store_sales_hourly")
    day = rows["sales_hour"].max().normalize()
    expected = (
        rows[rows["sales_hour"] >= day]
        .groupby(["sales_hour", "store_id", "store_name"], as_index=False)[
            ["orders", "revenue_usd"]
        ]
        .sum()
    )
    actual = panels[queries.STORE_HOURLY.title]
    actual["sales_hour"] = pd.to_datetime(actual["sales_hour"])
    _same(actual, expected)


def test_low_stock_is_the_twenty_lowest_ranks(panels: dict[str, pd.DataFrame]) -> None:
    rows = _frame("fct_inventory_health").sort_values("low_stock_rank")
    actual = panels[queries.LOW_STOCK.title]
    assert list(actual["low_stock_rank"]) == list(range(1, queries.LOW_STOCK_ITEMS + 1))
    assert list(actual["product_name"]) == list(rows["product_name"].head(20))
    pdt.assert_series_equal(
        actual["days_of_supply"].astype(float),
        rows["days_of_supply"].head(20).reset_index(drop=True),
        check_names=False,
    )


def test_funnel_totals_and_steps_are_the_latest_day(panels: dict[str, pd.DataFrame]) -> None:
    rows = _frame("fct_funnel_by_category")
    rows = rows[rows["funnel_date"] == rows["funnel_date"].max()]
    steps = queries.funnel_steps(panels[queries.FUNNEL_TOTALS.title])
    viewed, carted, bought = (
        rows[c].sum() for c in ("sessions_viewed", "sessions_carted", "sessions_purchased")
    )
    expected = pd.DataFrame(
        {
            "step": ["Viewed", "Added to cart", "Purchased"],
            "sessions": [int(viewed), int(carted), int(bought)],
            "share_of_views": [1.0, carted / viewed, bought / viewed],
        }
    )
    pdt.assert_frame_equal(steps, expected)
    by_category = panels[queries.FUNNEL_BY_CATEGORY.title]
    assert sorted(by_category["category_code"]) == sorted(rows["category_code"])


def test_aov_by_discount_band(panels: dict[str, pd.DataFrame]) -> None:
    expected = _frame("fct_aov_by_discount_band").sort_values("discount_band")
    _same(panels[queries.AOV_BY_DISCOUNT.title], expected)


def test_clv_and_pipeline_health_summaries(panels: dict[str, pd.DataFrame]) -> None:
    clv = _frame("fct_customer_lifetime_value")
    summary = queries.clv_summary(panels[queries.CUSTOMER_LIFETIME_VALUE.title])
    value = clv["lifetime_value_usd"]
    assert summary == pytest.approx(
        {
            "customers": len(value),
            "median_usd": value.median(),
            "p90_usd": value.quantile(0.9),
            "median_historical_usd": clv["historical_revenue_usd"].median(),
        }
    )
    health_rows = _frame("fct_pipeline_health")
    health = queries.health_summary(panels[queries.PIPELINE_HEALTH.title])
    assert health["latency_p95_ms"] == pytest.approx(health_rows["latency_p95_ms"].max())
    assert health["late_events"] == health_rows["late_events"].sum()
    assert health["quarantined_rows"] == health_rows["quarantined_rows"].sum()
    assert pd.Timestamp(health["last_loaded_at"]) == health_rows["last_loaded_at"].max()


def test_the_live_panel_knows_how_old_its_newest_minute_is(
    panels: dict[str, pd.DataFrame],
) -> None:
    rows = _frame("fct_product_sales_minute")
    frame = panels[queries.LIVE_FRESHNESS.title]
    age = queries.live_age(frame)
    read_at = pd.Timestamp(frame.loc[0, "read_at"])
    assert age.newest_window_end == rows["window_end"].max()
    assert age.window_age_s == pytest.approx((read_at - rows["window_end"].max()).total_seconds())
    assert age.landed_age_s == pytest.approx((read_at - rows["loaded_at"].max()).total_seconds())
    assert age.describe().startswith("newest minute ended ")


def test_live_age_wording() -> None:
    frame = pd.DataFrame(
        {
            "newest_window_end": [pd.Timestamp("2026-03-02 10:00:00")],
            "newest_loaded_at": [pd.Timestamp("2026-03-02 10:00:05")],
            "read_at": [pd.Timestamp("2026-03-02 10:00:42")],
        }
    )
    assert queries.live_age(frame).describe() == "newest minute ended 42 s ago, landed 37 s ago"
    assert queries.live_age(frame.iloc[0:0]).describe() == "no minute landed yet"


def test_missing_marts_are_named(tmp_path: Path) -> None:
    settings = Settings(
        warehouse_emulator_path=str(tmp_path), snowflake_account=None, snowflake_host=None
    )
    build_marts(settings, only=("fct_daily_kpis",))
    schema = settings.snowflake_analytics_schema
    with warehouse.connect(settings, schema=schema) as conn:
        present = queries.existing_marts(conn, schema)
    assert queries.missing_marts(present, queries.TODAY_KPIS.marts) == []
    assert queries.missing_marts(present, queries.ALL_PANELS[2].marts) == [
        "fct_product_sales_minute"
    ]


def test_top_products_fold_the_rest_into_other() -> None:
    frame = pd.DataFrame(
        {
            "window_start": ["10:00", "10:00", "10:00", "10:01"],
            "product_name": ["A", "B", "C", "C"],
            "orders": [1, 2, 3, 4],
            "units": [1, 2, 3, 4],
            "revenue_usd": [50.0, 10.0, 5.0, 7.0],
        }
    )
    expected = pd.DataFrame(
        {
            "window_start": ["10:00", "10:00", "10:01"],
            "product": ["A", "Other products", "Other products"],
            "orders": [1, 5, 4],
            "units": [1, 5, 4],
            "revenue_usd": [50.0, 15.0, 7.0],
        }
    )
    pdt.assert_frame_equal(queries.top_products_with_other(frame, top=1), expected)


def test_decimals_become_ints_or_floats() -> None:
    frame = queries.decimals_to_numbers(
        pd.DataFrame(
            {
                "n": [Decimal("3"), Decimal("4")],
                "money": [Decimal("100.00"), Decimal("2.50")],
                "m": [Decimal("1.25"), None],
            }
        ),
        {"n": 0, "money": 2, "m": 2},
    )
    assert list(frame["n"]) == [3, 4]
    assert frame["n"].dtype == "Int64"
    assert frame["money"].dtype == "float64"
    assert frame["m"].dtype == "float64"


def test_problem_events_are_long_form_per_query() -> None:
    health = pd.DataFrame(
        {
            "query_name": ["silver_sales", "bronze_sales"],
            "late_events": [3, 0],
            "duplicate_events": [1, None],
            "quarantined_rows": [2, 5],
        }
    )
    expected = pd.DataFrame(
        {
            "query_name": ["bronze_sales"] * 3 + ["silver_sales"] * 3,
            "kind": ["Duplicate", "Late", "Quarantined"] * 2,
            "events": [0, 0, 5, 1, 3, 2],
        }
    )
    pdt.assert_frame_equal(queries.problem_events(health), expected)


def test_discount_bands_sort_by_their_numbers() -> None:
    frame = pd.DataFrame(
        {"discount_band": ["16-25%", "0%", "11-15%", "none", "1-5%", "6-10%"], "orders": range(6)}
    )
    assert list(queries.discount_bands_in_order(frame)["discount_band"]) == [
        "0%",
        "1-5%",
        "6-10%",
        "11-15%",
        "16-25%",
        "none",
    ]
