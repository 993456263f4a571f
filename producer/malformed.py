"""Bad payloads of the kinds real feeds send: broken JSON, missing fields,
wrong types, unknown event types and absurd values.

Each maker takes a clean record and returns the payload bytes plus a short
detail for the fault ledger. Only `bad_json` yields something that is not JSON.
"""

from __future__ import annotations

import copy
import json
import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from producer.records import Record
from producer.serializer import serialize, to_json_bytes
from retail_lakehouse.contracts import EventContract, Field

MALFORMED_KINDS = ("bad_json", "missing_field", "wrong_type", "unknown_event_type", "absurd_value")
UNKNOWN_EVENT_TYPES = ("teleport", "price_check", "sale_v0")
_NUMBER_WORDS = ("three", "ten", "a few")

Made = tuple[bytes, str]  # payload, detail
Path = tuple[Any, ...]  # keys and list indexes from the record root to a field


def make(kind: str, contract: EventContract, record: Record, rng: random.Random) -> Made:
    return _MAKERS[kind](contract, copy.deepcopy(record), rng)


def carried(payload: bytes) -> dict[str, str]:
    """event_id and event_type as a reader would find them in the payload, if it can."""
    try:
        parsed = json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return {}
    if not isinstance(parsed, dict):
        return {}
    return {k: parsed[k] for k in ("event_id", "event_type") if isinstance(parsed.get(k), str)}


def bad_json(contract: EventContract, record: Record, rng: random.Random) -> Made:
    clean = serialize(contract, record)
    style = rng.choice(("truncated", "key_value_text", "array_bracket"))
    if style == "truncated":
        # every proper prefix of a JSON object is invalid JSON
        return clean[: rng.randrange(1, len(clean))], style
    if style == "key_value_text":
        text = ";".join(f"{k}={v}" for k, v in record.items() if not isinstance(v, list))
        return text.encode("utf-8"), style
    return b"[" + clean[1:], style  # a ':' inside an array is never valid


def missing_field(contract: EventContract, record: Record, rng: random.Random) -> Made:
    candidates = [(f.name,) for f in contract.fields if f.required] + [
        path for path, f in _leaf_fields(contract, record) if f.required and len(path) > 1
    ]
    path = rng.choice(candidates)
    parent = _parent(record, path)
    del parent[path[-1]]
    return to_json_bytes(record), _dotted(path)


def wrong_type(contract: EventContract, record: Record, rng: random.Random) -> Made:
    candidates = [
        (path, f)
        for path, f in _leaf_fields(contract, record)
        if f.kind in ("int", "long", "money", "timestamp") and _get(record, path) is not None
    ]
    path, f = rng.choice(candidates)
    current = _get(record, path)
    if f.kind == "money":
        wrong: object = "abc"
    elif f.kind == "timestamp":
        wrong = "yesterday"
    elif rng.random() < 0.5:
        wrong = rng.choice(_NUMBER_WORDS)
    else:
        wrong = f"{f.name[0].upper()}{current}"  # store_id 1 -> "S1"
    _parent(record, path)[path[-1]] = wrong
    return to_json_bytes(record), f"{_dotted(path)}={wrong!r}"


def unknown_event_type(contract: EventContract, record: Record, rng: random.Random) -> Made:
    record["event_type"] = rng.choice(UNKNOWN_EVENT_TYPES)
    return to_json_bytes(record), str(record["event_type"])


def absurd_value(contract: EventContract, record: Record, rng: random.Random) -> Made:
    """Well-typed but impossible: outside the contract's range, or a 1970/future time."""
    candidates: list[tuple[Path, Field]] = [(("event_time",), contract.field("event_time"))]
    for path, f in _leaf_fields(contract, record):
        bounded = f.minimum is not None or f.maximum is not None
        if f.kind in ("int", "long", "money") and bounded and _get(record, path) is not None:
            candidates.append((path, f))
    path, f = rng.choice(candidates)
    value = _absurd(f, _get(record, path), rng)
    _parent(record, path)[path[-1]] = value
    return to_json_bytes(record), f"{_dotted(path)}={to_json_bytes(value).decode()}"


def _absurd(f: Field, current: Any, rng: random.Random) -> object:
    if f.kind == "timestamp":
        if rng.random() < 0.5:
            return datetime(1970, 1, 1, tzinfo=UTC)
        return current + timedelta(days=365 * rng.randint(3, 30))
    too_big = f.maximum is not None and (f.minimum is None or rng.random() < 0.5)
    if too_big:
        big = max(100_000, int(f.maximum or 0) * 10)
        return Decimal(big) if f.kind == "money" else big
    if f.minimum is not None and f.minimum < 0:  # signed fields: far below the floor
        low = int(f.minimum) * 10
        return Decimal(low) if f.kind == "money" else low
    if f.kind == "money":
        return -max(Decimal("0.01"), abs(Decimal(current)))
    return -max(1, abs(int(current)))


def _leaf_fields(contract: EventContract, record: Record) -> list[tuple[Path, Field]]:
    """Scalar fields of the record, including those of the first array item."""
    leaves: list[tuple[Path, Field]] = []
    for f in contract.fields:
        if f.kind != "array":
            leaves.append(((f.name,), f))
            continue
        items = record.get(f.name)
        if isinstance(items, list) and items:
            leaves.extend(((f.name, 0, child.name), child) for child in f.items)
    return leaves


def _parent(record: Record, path: Path) -> Any:
    node: Any = record
    for step in path[:-1]:
        node = node[step]
    return node


def _get(record: Record, path: Path) -> Any:
    return _parent(record, path).get(path[-1])


def _dotted(path: Path) -> str:
    return ".".join(f"[{p}]" if isinstance(p, int) else p for p in path).replace(".[", "[")


_MAKERS: dict[str, Callable[[EventContract, Record, random.Random], Made]] = {
    "bad_json": bad_json,
    "missing_field": missing_field,
    "wrong_type": wrong_type,
    "unknown_event_type": unknown_event_type,
    "absurd_value": absurd_value,
}
