"""Records to contract JSON and back.

The wire format, shared with the Spark readers: compact UTF-8 JSON, keys in
contract order, timestamps as `YYYY-MM-DDTHH:MM:SS.mmmZ` (UTC), money as JSON
numbers with exactly two decimals (`12.50`), absent optional fields as null.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from retail_lakehouse.contracts import MONEY_SCALE, EventContract, Field

MONEY_QUANTUM = Decimal(1).scaleb(-MONEY_SCALE)  # 0.01
_quote = json.encoder.encode_basestring  # the C escaper behind json.dumps(ensure_ascii=False)


class ContractViolation(ValueError):
    """A record does not match its event contract; `field` names the culprit."""

    def __init__(self, event_type: str, field: str | None, problem: str) -> None:
        self.event_type = event_type
        self.field = field
        where = f"{event_type}.{field}" if field else event_type
        super().__init__(f"{where}: {problem}")


def serialize(contract: EventContract, record: Mapping[str, object]) -> bytes:
    """Contract JSON for one record; raises ContractViolation instead of sending garbage."""
    return _shape(contract.fields).encode(contract.event_type, record, "").encode("utf-8")


def deserialize(contract: EventContract, payload: bytes) -> dict[str, object]:
    """The record back from contract JSON, with datetimes and Decimals restored."""
    try:
        parsed = json.loads(payload.decode("utf-8"), parse_float=Decimal)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ContractViolation(contract.event_type, None, f"not JSON: {exc}") from exc
    if not isinstance(parsed, dict):
        raise ContractViolation(contract.event_type, None, "payload is not a JSON object")
    return _shape(contract.fields).restore(contract.event_type, parsed, "")


def format_timestamp(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise ValueError(f"{moment!r} has no time zone; event times are UTC")
    if moment.tzinfo is not UTC:
        moment = moment.astimezone(UTC)
    return moment.replace(tzinfo=None).isoformat(timespec="milliseconds") + "Z"


def parse_timestamp(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def format_money(value: Decimal | int) -> str:
    """Exactly two decimals, rounded half-up, never in exponent notation."""
    return format(Decimal(value).quantize(MONEY_QUANTUM, rounding=ROUND_HALF_UP), "f")


def to_json_bytes(value: object) -> bytes:
    """Compact JSON of plain values, Decimals as exact numbers and datetimes as
    contract timestamps. No contract checks: faults use it to build bad records."""
    return _encode(value).encode("utf-8")


def _encode(value: object) -> str:
    if value is None or isinstance(value, bool | int | float | str):
        return json.dumps(value, ensure_ascii=False, allow_nan=False)
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"{value} is not a JSON number")
        return format(value, "f")
    if isinstance(value, datetime):
        return '"' + format_timestamp(value) + '"'
    if isinstance(value, Mapping):
        return "{" + ",".join(f"{_quote(str(k))}:{_encode(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(_encode(v) for v in value) + "]"
    raise TypeError(f"cannot encode {type(value).__name__} as JSON")


class _Shape:
    """The fields of one object (an event or an array item), prepared once.

    Encoding runs for every event sent, so the names, quoted keys and nested
    shapes are worked out here and not per record.
    """

    def __init__(self, fields: tuple[Field, ...]) -> None:
        self.fields = fields
        self.names = frozenset(f.name for f in fields)
        self.required = tuple(f.name for f in fields if f.required)
        self.keys = tuple(_quote(f.name) + ":" for f in fields)
        self.children = {f.name: _Shape(f.items) for f in fields if f.kind == "array"}
        # items made only of required integers (stock counts) get a fast path
        self.all_ints = all(f.kind in ("int", "long") and f.required for f in fields)
        self.order = tuple(f.name for f in fields)
        self.int_template = "{" + ",".join(k + "%d" for k in self.keys) + "}"

    def check_names(self, event_type: str, record: Mapping[str, Any], prefix: str) -> None:
        unknown = record.keys() - self.names
        if unknown:
            raise ContractViolation(event_type, prefix + sorted(unknown)[0], "unknown field")
        for name in self.required:
            if record.get(name) is None:
                raise ContractViolation(event_type, prefix + name, "required field is missing")

    def encode(self, event_type: str, record: Mapping[str, Any], prefix: str) -> str:
        self.check_names(event_type, record, prefix)
        parts = [
            key + self._value(event_type, f, record.get(f.name), prefix)
            for key, f in zip(self.keys, self.fields, strict=True)
        ]
        return "{" + ",".join(parts) + "}"

    def _value(self, event_type: str, f: Field, value: Any, prefix: str) -> str:
        if value is None:
            return "null"
        kind = f.kind
        if kind in ("int", "long") and type(value) is int:
            return str(value)
        if kind == "string" and type(value) is str:
            return _quote(value)
        if kind == "money" and type(value) in (Decimal, int):
            return format_money(value)
        if kind == "timestamp" and isinstance(value, datetime) and value.tzinfo is not None:
            return '"' + format_timestamp(value) + '"'
        if kind == "array" and isinstance(value, list | tuple):
            return self._array(event_type, f.name, value, prefix)
        raise ContractViolation(event_type, prefix + f.name, f"expected {kind}, got {value!r}")

    def _array(self, event_type: str, name: str, items: Sequence[Any], prefix: str) -> str:
        child = self.children[name]
        parts = []
        for i, item in enumerate(items):
            if child.all_ints and type(item) is dict and item.keys() == child.names:
                values = tuple(map(item.__getitem__, child.order))
                if all(type(v) is int for v in values):
                    parts.append(child.int_template % values)
                    continue
            if not isinstance(item, Mapping):
                raise ContractViolation(event_type, f"{prefix}{name}[{i}]", "not an object")
            parts.append(child.encode(event_type, item, f"{prefix}{name}[{i}]."))
        return "[" + ",".join(parts) + "]"

    def restore(self, event_type: str, parsed: Mapping[str, Any], prefix: str) -> dict[str, Any]:
        self.check_names(event_type, parsed, prefix)
        return {
            f.name: self._restore_value(event_type, f, parsed.get(f.name), prefix)
            for f in self.fields
        }

    def _restore_value(self, event_type: str, f: Field, value: Any, prefix: str) -> Any:
        if value is None:
            return None
        try:
            if f.kind == "timestamp":
                return parse_timestamp(value)
            if f.kind == "money":
                return Decimal(value).quantize(MONEY_QUANTUM, rounding=ROUND_HALF_UP)
        except (TypeError, ValueError, InvalidOperation) as exc:
            problem = f"cannot read {f.kind} from {value!r}"
            raise ContractViolation(event_type, prefix + f.name, problem) from exc
        if f.kind == "array":
            child = self.children[f.name]
            return [
                child.restore(event_type, item, f"{prefix}{f.name}[{i}].")
                for i, item in enumerate(value)
            ]
        return value


_SHAPES: dict[int, tuple[tuple[Field, ...], _Shape]] = {}


def _shape(fields: tuple[Field, ...]) -> _Shape:
    # keyed by identity: hashing a tuple of frozen dataclasses costs more than encoding
    cached = _SHAPES.get(id(fields))
    if cached is None or cached[0] is not fields:
        cached = (fields, _Shape(fields))
        _SHAPES[id(fields)] = cached
    return cached[1]
