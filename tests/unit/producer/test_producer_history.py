"""The demo's history: the days before now, none of it in the future or in the live run."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime, timedelta

from producer.catalog import build_catalog
from producer.clock import RealtimeClock
from producer.history import history_messages
from producer.malformed import MALFORMED_KINDS
from producer.stream import generate_messages
from retail_lakehouse.settings import Settings

NOW = datetime(2026, 3, 10, 14, 30, tzinfo=UTC)


def _events(messages) -> list[dict]:
    """The payloads, but those the fault injector made malformed on purpose."""
    return [json.loads(m.value) for m in messages if m.fault not in MALFORMED_KINDS]


def _time(event: dict) -> datetime:
    return datetime.fromisoformat(event["event_time"].replace("Z", "+00:00"))


def test_two_days_of_history_end_before_now_and_fill_each_day():
    settings = Settings.model_construct()
    events = _events(history_messages(settings, days=2, seed=42, now=NOW))
    times = [_time(e) for e in events]
    # from midnight two days back, to a quarter of an hour before now
    assert min(times) < datetime(2026, 3, 8, 1, tzinfo=UTC)
    assert min(times) >= datetime(2026, 3, 8, tzinfo=UTC) - timedelta(hours=1)  # late ones
    assert max(times) < NOW - timedelta(minutes=15)
    assert max(times) > NOW - timedelta(hours=1)
    days = Counter(t.date() for t in times)
    assert set(days) >= {NOW.date() - timedelta(days=d) for d in (0, 1, 2)}
    assert days[NOW.date() - timedelta(days=1)] > 10_000  # a whole shop day


def test_the_history_shares_the_catalog_but_not_the_event_ids_of_the_live_run():
    settings = Settings.model_construct()
    history = _events(history_messages(settings, days=1, seed=42, now=NOW))
    live = _events(
        generate_messages(
            settings, seed=42, events=5_000, clock=RealtimeClock(), catalog=build_catalog(42)
        )
    )
    assert not {e["event_id"] for e in history} & {e["event_id"] for e in live}
    products = {p.product_id for p in build_catalog(42).products}
    sold = {line["product_id"] for e in history for line in e.get("lines", ())}
    assert sold and sold <= products
