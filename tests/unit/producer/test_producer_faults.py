"""The fault injector, checked against an independent classification of its output.

The clean stream (no faults) and the faulty stream come from the same seed and a
fixed wall clock. Apart from duplicates, message i of the faulty stream stems
from clean event i, so each difference can be classified by plain comparison.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from producer.clock import SimulatedClock
from producer.faults import FAULT_KINDS, FaultConfig
from producer.serializer import parse_timestamp
from producer.stream import generate_messages
from retail_lakehouse.contracts import FAMILIES, contract_for
from retail_lakehouse.settings import Settings

WALL = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
NOISY = FaultConfig(duplicate_rate=0.05, out_of_order_rate=0.05, late_rate=0.03,
                    malformed_rate=0.15)  # fmt: skip


def messages(seed, events, faults=None):
    stream = generate_messages(
        Settings(), seed=seed, events=events, faults=faults,
        clock=SimulatedClock(), wall_clock=lambda: WALL,
    )  # fmt: skip
    return list(stream), stream


def parse(value):
    try:
        parsed = json.loads(value.decode("utf-8"))
    except ValueError:
        return None
    return parsed if isinstance(parsed, dict) else None


def leaves(record, prefix=""):
    """Flatten to {path: value}, arrays by index."""
    out = {}
    for key, value in record.items():
        if isinstance(value, list):
            for i, item in enumerate(value):
                out.update(leaves(item, f"{prefix}{key}[{i}]."))
        else:
            out[prefix + key] = value
    return out


def classify(faulty, clean):
    """Independent count of what happened to each message."""
    counts = Counter()
    seen = set()
    clean_iter = iter(clean)
    for message in faulty:
        fingerprint = (message.topic, message.key, message.value)
        if fingerprint in seen:
            counts["duplicate"] += 1
            continue
        seen.add(fingerprint)
        original = next(clean_iter)
        assert (message.topic, message.key) == (original.topic, original.key)
        if message.value == original.value:
            continue
        counts[classify_change(parse(message.value), parse(original.value))] += 1
    assert next(clean_iter, None) is None
    return counts


def is_timestamp(value):
    try:
        parse_timestamp(value)
    except (TypeError, ValueError):
        return False
    return True


def classify_change(bad, good):
    if bad is None:
        return "bad_json"
    bad_leaves, good_leaves = leaves(bad), leaves(good)
    if set(bad_leaves) < set(good_leaves):
        return "missing_field"
    allowed = [t for fam in FAMILIES for c in fam.contracts for t in c.field("event_type").allowed]
    if bad["event_type"] not in allowed:
        return "unknown_event_type"
    changed = [k for k in good_leaves if bad_leaves[k] != good_leaves[k]]
    assert len(changed) == 1, changed
    (path,) = changed
    if isinstance(bad_leaves[path], str) and not isinstance(good_leaves[path], str):
        return "wrong_type"
    if path in ("event_time", "produced_at") and not is_timestamp(bad_leaves[path]):
        return "wrong_type"
    if path == "event_time":
        back_by = parse_timestamp(good_leaves[path]) - parse_timestamp(bad_leaves[path])
        if back_by == timedelta(minutes=10):
            return "late"
        if timedelta(seconds=5) <= back_by <= timedelta(seconds=60):
            return "out_of_order"
    return "absurd_value"


@pytest.fixture(scope="module")
def streams():
    clean, _ = messages(3, 2500)
    faulty, stream = messages(3, 2500, NOISY)
    return clean, faulty, stream


def test_report_counts_equal_what_is_in_the_stream(streams) -> None:
    clean, faulty, stream = streams
    counts = classify(faulty, clean)
    report = stream.faults.counts
    assert set(report) == set(FAULT_KINDS)
    assert {k: v for k, v in report.items() if v} == dict(counts)
    assert all(report[k] > 0 for k in FAULT_KINDS)
    assert len(faulty) == len(clean) + report["duplicate"]
    assert stream.events == 2500


def test_messages_are_labelled_with_their_fault(streams) -> None:
    _, faulty, stream = streams
    labelled = Counter(m.fault for m in faulty if m.fault)
    assert dict(labelled) == {k: v for k, v in stream.faults.counts.items() if v}
    assert [(f.kind, f.topic, f.event_id) for f in stream.faults.ledger] == [
        (m.fault, m.topic, m.event_id) for m in faulty if m.fault
    ]


def test_ledger_event_ids_are_what_the_payload_carries(streams) -> None:
    _, faulty, stream = streams
    for message in faulty:
        parsed = parse(message.value)
        carried = parsed.get("event_id") if parsed else None
        assert message.event_id == carried
    bad_json = [f for f in stream.faults.ledger if f.kind == "bad_json"]
    assert bad_json and all(f.event_id is None and f.source_event_id for f in bad_json)


def test_duplicates_follow_one_to_five_messages_later(streams) -> None:
    _, faulty, _ = streams
    first_at = {}
    for position, message in enumerate(faulty):
        if message.fault == "duplicate":
            gap = position - first_at[message.value]
            assert 1 < gap <= 11, gap  # 1..5 later messages, plus other duplicates between
        else:
            first_at.setdefault(message.value, position)


def test_same_seed_same_stream_other_seed_other_stream(streams) -> None:
    _, faulty, _ = streams
    again, _ = messages(3, 2500, NOISY)
    assert again == faulty
    other, _ = messages(4, 2500, NOISY)
    assert [m.value for m in other] != [m.value for m in faulty]


def test_no_faults_means_every_message_follows_its_contract(streams) -> None:
    clean, _, _ = streams
    for message in clean:
        assert message.fault is None
        parsed = parse(message.value)
        assert list(parsed) == list(contract_for(parsed["event_type"]).field_names)


def test_keys_and_topics_follow_the_event_family() -> None:
    settings = Settings()
    clean, _ = messages(9, 800)
    topics = {settings.topic(fam): fam for fam in FAMILIES}
    for message in clean:
        parsed = parse(message.value)
        fam = topics[message.topic]
        assert parsed["event_type"] in [
            t for c in fam.contracts for t in c.field("event_type").allowed
        ]
        assert message.key == str(parsed[fam.key_field]).encode()
        assert parsed["produced_at"] == "2026-03-02T12:00:00.000Z"
    assert {m.topic for m in clean} == set(topics)


@pytest.mark.parametrize(
    "config",
    [
        {"duplicate_rate": -0.1},
        {"malformed_rate": 1.5},
        {"duplicate_rate": 0.6, "late_rate": 0.6},
        {"out_of_order_max": timedelta(seconds=1)},
        {"late_by": timedelta(0)},
    ],
)
def test_impossible_configs_are_refused(config) -> None:
    with pytest.raises(ValueError):
        FaultConfig(**config)
