"""The dashboard served and seen as a user sees it: `streamlit run` headless on a free
port, opened in headless Chromium through Playwright (Debian's /usr/bin/chromium:
Playwright's own browser download is blocked on the project's machines). Used by the
browser test and by `python -m dashboard.screenshot`."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
# root in CI has no user namespace sandbox; /dev/shm is small in containers
CHROMIUM_ARGS = ["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"]
WIDTH = 1440


class DashboardError(RuntimeError):
    """The dashboard or the browser could not be started; the message says why."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def running_dashboard(env: dict[str, str], log: Path) -> Iterator[str]:
    """`streamlit run dashboard/app.py` with `env`, headless on a free port; yields its
    URL once it answers its health check."""
    port = free_port()
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "dashboard/app.py",
             "--server.headless", "true", "--server.port", str(port),
             "--server.address", "127.0.0.1", "--server.fileWatcherType", "none",
             "--browser.gatherUsageStats", "false"],
            cwd=REPO, env={**env, "PYTHONPATH": str(REPO)}, stdout=out,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as reply:  # noqa: S310 (our own loopback URL)
                    if reply.read() == b"ok":
                        break
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise DashboardError(f"streamlit did not start:\n{log.read_text()[-3000:]}")
            time.sleep(0.3)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


@contextmanager
def chromium() -> Iterator[Any]:
    """Headless Chromium (a Playwright Browser)."""
    if not Path(CHROMIUM).exists():
        raise DashboardError(
            f"{CHROMIUM} is missing: run `make browser` (apt-get install chromium)"
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            browser.close()


def open_whole_page(browser: Any, url: str, charts: int) -> Any:
    """The page loaded to its last section with `charts` charts drawn, the viewport
    grown to the whole page (Streamlit scrolls inside its main element, so a full-page
    screenshot alone would cut it)."""
    page = browser.new_page(viewport={"width": WIDTH, "height": 1000})
    page.goto(url)
    page.locator('.st-key-health-quarantined [data-testid="stMetricValue"]').wait_for(
        timeout=180_000
    )
    page.wait_for_function(
        "n => document.querySelectorAll('[data-testid=stVegaLiteChart] canvas,"
        " [data-testid=stVegaLiteChart] svg').length >= n",
        arg=charts,
        timeout=60_000,
    )
    height = page.evaluate("document.querySelector('[data-testid=stMain]').scrollHeight")
    page.set_viewport_size({"width": WIDTH, "height": int(height)})
    page.wait_for_timeout(2000)  # charts re-lay out to the new viewport
    return page
