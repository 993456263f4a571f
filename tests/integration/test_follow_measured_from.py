"""`lakehouse load --follow --measured-from T`: sales produced before T (the demo's
history) are landed but not measured, on the emulated warehouse."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from loaders.follow_freshness import LiveMartFreshness
from retail_lakehouse import tables, warehouse
from retail_lakehouse.settings import Settings

pytestmark = pytest.mark.integration

LIVE_FROM = datetime(2026, 3, 10, 12, 0)  # naive UTC, as the warehouse returns it


def _lines(settings: Settings) -> None:
    name = tables.SILVER_SALES_LINES.warehouse_name
    rows = [
        ("history", LIVE_FROM - timedelta(days=2)),
        ("just-before", LIVE_FROM - timedelta(seconds=1)),
        ("live", LIVE_FROM),
        ("later", LIVE_FROM + timedelta(minutes=5)),
    ]
    with warehouse.connect(settings) as conn, conn.cursor() as cur:
        cur.execute(
            f"create or replace table {name} (event_id varchar, line_number int, "
            "produced_at timestamp_ntz, ingested_at timestamp_ntz, event_time timestamp_ntz, "
            "product_id int, is_late boolean, _loaded_at timestamp_ntz)"
        )
        for event_id, produced in rows:
            cur.execute(
                f"insert into {name} values (%s, 1, %s, %s, %s, 7, false, %s)",
                (event_id, produced, produced, produced, produced + timedelta(seconds=3)),
            )


@pytest.mark.parametrize(
    ("produced_from", "measured"),
    [(None, {"history", "just-before", "live", "later"}), (LIVE_FROM, {"live", "later"})],
)
def test_sales_produced_before_the_live_start_are_not_measured(
    tmp_path, produced_from, measured
) -> None:
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        warehouse_emulator_path=str(tmp_path / "warehouse"),
    )
    _lines(settings)
    freshness = LiveMartFreshness(produced_from=produced_from)
    with warehouse.connect(settings) as conn:
        freshness._read_new_lines(conn)
    assert {event_id for event_id, _line in freshness._pending} == measured
