"""The dashboard in a real headless Chromium: the KPI numbers on the page equal the
warehouse's, the live panel says how old its newest minute is, and the page survives a
warehouse without marts. (The README's screenshot comes from a real demo's warehouse:
`make screenshot`, dashboard/screenshot.py.)"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from dashboard_marts import build_marts

from dashboard.browser import chromium, open_whole_page, running_dashboard
from dashboard.screenshot import CHARTS
from retail_lakehouse import warehouse
from retail_lakehouse.settings import Settings

pytestmark = [
    pytest.mark.integration,
    # fakesnow's own note about Arrow copies, not ours
    pytest.mark.filterwarnings("ignore:Arrow output:UserWarning"),
]

KPI_KEYS = ("kpi-orders", "kpi-revenue", "kpi-aov", "kpi-units")


def _settings(path: Path) -> Settings:
    return Settings(warehouse_emulator_path=str(path), snowflake_account=None, snowflake_host=None)


@contextmanager
def serving(warehouse_path: Path) -> Iterator[str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("SNOWFLAKE_ACCOUNT", "SNOWFLAKE_HOST"))
    }
    env["WAREHOUSE_EMULATOR_PATH"] = str(warehouse_path)
    log = warehouse_path.parent / "streamlit.log"
    with running_dashboard(env, log) as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with chromium() as launched:
        yield launched


def _number(text: str) -> float:
    return float(re.sub(r"[^0-9.\-]", "", text))


def _expected_kpis(settings: Settings) -> dict[str, float]:
    """Today's KPIs read straight from the warehouse with the connector."""
    with warehouse.connect(settings, schema=settings.snowflake_analytics_schema) as conn:
        cur = conn.cursor()
        cur.execute(
            "select orders, revenue_usd, avg_order_value_usd, units from FCT_DAILY_KPIS "
            "where kpi_date = (select max(kpi_date) from FCT_DAILY_KPIS)"
        )
        orders, revenue, aov, units = cur.fetchone()
    return {
        "kpi-orders": float(orders),
        "kpi-revenue": round(float(revenue), 2),
        "kpi-aov": round(float(aov), 2),
        "kpi-units": float(units),
    }


def test_kpis_on_the_page_equal_the_warehouse(tmp_path: Path, browser: object) -> None:
    warehouse_path = tmp_path / "warehouse"
    settings = _settings(warehouse_path)
    build_marts(settings)
    # read and close before the app starts: DuckDB locks its file per process
    expected = _expected_kpis(settings)

    with serving(warehouse_path) as url:
        page = open_whole_page(browser, url, CHARTS)
        values = {
            key: _number(page.locator(f'.st-key-{key} [data-testid="stMetricValue"]').inner_text())
            for key in KPI_KEYS
        }
        live_age = page.locator(".st-key-live-age").inner_text()
        body = page.locator("body").inner_text()
        chart_count = page.locator('[data-testid="stVegaLiteChart"]').count()
        # literal rows, not a demo: never the README's picture (`make screenshot` takes that)
        page.screenshot(path=str(tmp_path / "dashboard.png"), full_page=True)
        page.close()

    assert values == expected
    assert chart_count == CHARTS
    # the live panel says how old its newest minute is (the literal minutes are days old)
    assert re.search(r"Newest minute \d\d:\d\d UTC: newest minute ended [\d.]+ \S+ ago, "
                     r"landed [\d.]+ \S+ ago", live_age), live_age  # fmt: skip
    assert "Today = Saturday 21 November 2026" in body
    assert "Traceback" not in body
    for heading in (
        "Sales per product, last 15 minutes",
        "Revenue per store, last 14 days",
        "Revenue per store and hour, latest day",
        "The 20 lowest-stock items",
        "Funnel conversion",
        "Customer lifetime value",
        "Average order value by discount band",
        "Pipeline health",
    ):
        assert heading in body


def test_without_marts_the_page_says_what_to_run(tmp_path: Path, browser: object) -> None:
    warehouse_path = tmp_path / "empty-warehouse"
    warehouse_path.mkdir()
    with serving(warehouse_path) as url:
        page = browser.new_page()
        page.goto(url)
        page.get_by_text("no dbt marts yet").first.wait_for(timeout=180_000)
        body = page.locator("body").inner_text()
        exceptions = page.locator('[data-testid="stException"]').count()
        page.close()
    assert "no dbt marts yet" in body
    assert "make demo" in body
    assert exceptions == 0
    assert "Traceback" not in body
