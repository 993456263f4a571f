"""The README's dashboard screenshot, from the warehouse a real `make demo` built:

    python -m dashboard.screenshot [--warehouse warehouse_data] [--output docs/dashboard.png]

(`make screenshot`). It serves dashboard/app.py on that warehouse (the fakesnow
emulator's files, or the account SNOWFLAKE_* name), opens it in headless Chromium and
saves the whole page. It refuses a warehouse without marts: run `make demo` first.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

from dashboard.browser import REPO, DashboardError, chromium, open_whole_page, running_dashboard

# daily trend, last minutes, stores by day and hour, funnel, AOV, CLV, latency, problem events
CHARTS = 9


def take(warehouse_path: Path, output: Path) -> Path:
    env = dict(os.environ, WAREHOUSE_EMULATOR_PATH=str(warehouse_path.resolve()))
    with (
        tempfile.TemporaryDirectory() as scratch,
        running_dashboard(env, Path(scratch) / "streamlit.log") as url,
        chromium() as browser,
    ):
        page = open_whole_page(browser, url, CHARTS)
        body = page.locator("body").inner_text()
        if "no dbt marts yet" in body or "Could not read the warehouse" in body:
            raise DashboardError(f"no marts at {warehouse_path}: run `make demo` first")
        output.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(output), full_page=True)
        page.close()
    return output


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--warehouse", type=Path, default=Path("warehouse_data"))
    parser.add_argument("--output", type=Path, default=REPO / "docs" / "dashboard.png")
    args = parser.parse_args(argv)
    try:
        saved = take(args.warehouse, args.output)
    except DashboardError as error:
        print(f"screenshot failed: {error}", file=sys.stderr)
        raise SystemExit(1) from None
    print(f"saved {saved}")


if __name__ == "__main__":
    main()
