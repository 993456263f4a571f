from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime, timedelta

import pytest

from producer.clock import RealtimeClock, SimulatedClock
from producer.run import ProduceReport, make_clock
from producer.stream import generate_messages
from retail_lakehouse.settings import Settings


def test_make_clock() -> None:
    start = datetime(2026, 5, 1, tzinfo=UTC)
    simulated = make_clock("simulated", start)
    assert isinstance(simulated, SimulatedClock) and simulated.now() == start
    assert make_clock("simulated").now() == datetime(2026, 3, 2, 8, tzinfo=UTC)
    assert isinstance(make_clock("realtime"), RealtimeClock)
    with pytest.raises(ValueError, match="simulated"):
        make_clock("realtime", start)


def test_report_is_json_friendly() -> None:
    report = ProduceReport(
        seed=1, clock="simulated", events=100,
        sent_by_topic={"a": 60, "b": 42}, delivered_by_topic={"a": 60, "b": 42},
        delivered=102, failed=0, failure_reasons={},
        undelivered=0, faults={"duplicate": 2, "total": 2}, elapsed_s=0.5, stopped_by="exhausted",
    )  # fmt: skip
    as_dict = json.loads(json.dumps(report.to_dict()))
    assert as_dict["sent_total"] == 102
    assert as_dict["events_per_s"] == 200.0
    assert as_dict["messages_per_s"] == 204.0
    assert as_dict["sent_by_topic"] == {"a": 60, "b": 42}


def test_realtime_clock_stamps_the_wall_clock() -> None:
    before = datetime.now(UTC) - timedelta(milliseconds=1)
    stream = generate_messages(Settings(), seed=1, events=50, clock=RealtimeClock())
    messages = list(itertools.islice(stream, 50))
    after = datetime.now(UTC) + timedelta(milliseconds=1)
    for m in messages:
        payload = json.loads(m.value)
        for name in ("event_time", "produced_at"):
            stamp = datetime.strptime(payload[name], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
            assert before <= stamp <= after
