"""The dashboard in a real headless Chromium: the KPI numbers on the page equal the
warehouse's, the page survives a warehouse without marts, and the screenshot the
README shows is taken here."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from dashboard_marts import build_marts

from retail_lakehouse import warehouse
from retail_lakehouse.settings import Settings

pytestmark = [
    pytest.mark.integration,
    # fakesnow's own note about Arrow copies, not ours
    pytest.mark.filterwarnings("ignore:Arrow output:UserWarning"),
]

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
# root in CI has no user namespace sandbox; /dev/shm is small in containers
CHROMIUM_ARGS = ["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"]
SCREENSHOT = REPO / "docs" / "dashboard.png"
KPI_KEYS = ("kpi-orders", "kpi-revenue", "kpi-aov", "kpi-units")
# daily trend, last minutes, stores by day and hour, funnel, AOV, CLV, latency, problem events
EXPECTED_CHARTS = 9


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _settings(path: Path) -> Settings:
    return Settings(warehouse_emulator_path=str(path), snowflake_account=None, snowflake_host=None)


@contextmanager
def running_dashboard(warehouse_path: Path) -> Iterator[str]:
    """`streamlit run dashboard/app.py` headless on a free port; yields its URL."""
    port = _free_port()
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("SNOWFLAKE_ACCOUNT", "SNOWFLAKE_HOST"))
    }
    env.update(WAREHOUSE_EMULATOR_PATH=str(warehouse_path), PYTHONPATH=str(REPO))
    log = warehouse_path.parent / f"streamlit-{port}.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "streamlit",
                "run",
                "dashboard/app.py",
                "--server.headless",
                "true",
                "--server.port",
                str(port),
                "--server.address",
                "127.0.0.1",
                "--server.fileWatcherType",
                "none",
                "--browser.gatherUsageStats",
                "false",
            ],
            cwd=REPO,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as reply:
                    if reply.read() == b"ok":
                        break
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"streamlit did not start:\n{log.read_text()[-3000:]}")
            time.sleep(0.3)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: run `make browser` (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield chromium
        chromium.close()


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

    with running_dashboard(warehouse_path) as url:
        page = browser.new_page(viewport={"width": 1440, "height": 1000})
        page.goto(url)
        values = {}
        for key in KPI_KEYS:
            cell = page.locator(f'.st-key-{key} [data-testid="stMetricValue"]')
            cell.wait_for(timeout=180_000)
            values[key] = _number(cell.inner_text())
        # the page's last section, then every chart drawn, then the viewport grown to the
        # whole page: Streamlit scrolls inside its main element, so a full-page screenshot
        # alone would cut it
        page.locator('.st-key-health-quarantined [data-testid="stMetricValue"]').wait_for(
            timeout=60_000
        )
        charts = page.locator('[data-testid="stVegaLiteChart"]')
        page.wait_for_function(
            "n => document.querySelectorAll('[data-testid=stVegaLiteChart] canvas,"
            " [data-testid=stVegaLiteChart] svg').length >= n",
            arg=EXPECTED_CHARTS,
            timeout=60_000,
        )
        body = page.locator("body").inner_text()
        height = page.evaluate("document.querySelector('[data-testid=stMain]').scrollHeight")
        page.set_viewport_size({"width": 1440, "height": int(height)})
        page.wait_for_timeout(2000)  # charts re-lay out to the new viewport
        chart_count = charts.count()
        SCREENSHOT.parent.mkdir(exist_ok=True)
        page.screenshot(path=str(SCREENSHOT), full_page=True)
        page.close()

    assert values == expected
    assert chart_count == EXPECTED_CHARTS
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
    with running_dashboard(warehouse_path) as url:
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
