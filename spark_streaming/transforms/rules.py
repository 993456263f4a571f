"""Validation rules of one event type, derived from its contract.

A rule is (reason, detail, failed), all Columns but the reason, over a parsed payload
(`payload.ParsedPayload`). Rules come out in check order: every wrong_type rule,
then missing_field, out_of_range and invalid_value, each stage field by field in
contract order. An array's item checks are folded into one pass over its items
(higher-order functions are interpreted, so one pass instead of one per rule).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal

from pyspark.sql import Column
from pyspark.sql import functions as F

from retail_lakehouse.contracts import EventContract, Field
from spark_streaming.transforms import payload
from spark_streaming.transforms.literals import timestamp_literal

WRONG_TYPE = "wrong_type"
MISSING_FIELD = "missing_field"
OUT_OF_RANGE = "out_of_range"
INVALID_VALUE = "invalid_value"
STAGES = (WRONG_TYPE, MISSING_FIELD, OUT_OF_RANGE, INVALID_VALUE)

Rule = tuple[str, Column, Column]
# (typed item, item as text) -> failed
ItemCheck = Callable[[Column, Column], Column]

# Event times before this are clock or encoding bugs (epoch seconds read as ms, ...)
EARLIEST_EVENT_TIME = datetime(2000, 1, 1, tzinfo=UTC)
# How far an event may lie ahead of its own send time (a till's clock running fast)
MAX_EVENT_AHEAD_DAYS = 1
# Stock goes up on these change types and down on every other one
RESTOCKING_CHANGE_TYPES = ("restock",)


def contract_rules(parsed: payload.ParsedPayload, contract: EventContract) -> list[Rule]:
    by_stage: dict[str, list[tuple[Column, Column]]] = {stage: [] for stage in STAGES}
    for f in contract.fields:
        checks = (
            _array_checks(parsed, f, contract) if f.kind == "array" else _scalar_checks(parsed, f)
        )
        for stage, detail, failed in checks:
            by_stage[stage].append((detail, failed))
    by_stage[OUT_OF_RANGE].append((F.lit("event_time"), _implausible_event_time(parsed.event)))
    return [(stage, detail, failed) for stage in STAGES for detail, failed in by_stage[stage]]


def _scalar_checks(parsed: payload.ParsedPayload, f: Field) -> list[Rule]:
    typed, text, name = parsed.event[f.name], parsed.text[f.name], F.lit(f.name)
    checks: list[Rule] = []
    if f.kind != "string":
        checks.append((WRONG_TYPE, name, payload.is_wrong_type(typed, text, f)))
    if f.required:
        checks.append((MISSING_FIELD, name, typed.isNull()))
    if _has_bounds(f):
        checks.append((OUT_OF_RANGE, name, _outside(typed, f)))
    if f.allowed is not None:
        checks.append((INVALID_VALUE, name, ~typed.isin(*f.allowed)))
    return checks


def _array_checks(parsed: payload.ParsedPayload, f: Field, contract: EventContract) -> list[Rule]:
    typed, text, items = parsed.event[f.name], parsed.text[f.name], parsed.items[f.name]
    item_checks = _item_checks(f, contract, parsed.event)
    per_item = F.zip_with(typed, items, _first_failures(item_checks))
    checks: list[Rule] = [
        (WRONG_TYPE, F.lit(f.name), payload.is_not_array(text)),
        (WRONG_TYPE, F.lit(f"{f.name}[]"), payload.has_non_object_item(text, items)),
    ]
    for stage in STAGES:
        if stage == MISSING_FIELD and f.required:
            checks.append((stage, F.lit(f.name), typed.isNull() | (F.size(typed) == 0)))
        if item_checks[stage]:
            first = F.array_min(per_item[stage])
            details = F.array(*(F.lit(detail) for detail, _ in item_checks[stage]))
            checks.append((stage, F.element_at(details, first + 1), first.isNotNull()))
    return checks


def _item_checks(
    f: Field, contract: EventContract, event: Column
) -> dict[str, list[tuple[str, ItemCheck]]]:
    checks: dict[str, list[tuple[str, ItemCheck]]] = {stage: [] for stage in STAGES}
    for child in f.items:
        detail = f"{f.name}[].{child.name}"
        if child.kind != "string":
            checks[WRONG_TYPE].append((detail, _wrong_item(child)))
        if child.required:
            checks[MISSING_FIELD].append((detail, lambda t, _, c=child: t[c.name].isNull()))
        if _has_bounds(child):
            checks[OUT_OF_RANGE].append((detail, lambda t, _, c=child: _outside(t[c.name], c)))
        if child.allowed is not None:
            checks[INVALID_VALUE].append(
                (detail, lambda t, _, c=child: ~t[c.name].isin(*(c.allowed or ())))
            )
    for detail, rule in CROSS_FIELD_ITEM_RULES.get((contract.event_type, f.name), ()):
        checks[INVALID_VALUE].append((detail, lambda t, _, r=rule: r(event, t)))
    return checks


def _first_failures(
    checks: dict[str, list[tuple[str, ItemCheck]]],
) -> Callable[[Column, Column], Column]:
    """Per item: for each stage, the index of its first failing check (null if none)."""

    def per_item(typed: Column, text: Column) -> Column:
        firsts = []
        for stage, stage_checks in checks.items():
            first: Column = F.lit(None).cast("int")
            for index, (_, check) in reversed(list(enumerate(stage_checks))):
                first = F.when(check(typed, text), F.lit(index)).otherwise(first)
            firsts.append(first.alias(stage))
        return F.struct(*firsts)

    return per_item


def _wrong_item(child: Field) -> ItemCheck:
    return lambda typed, text: payload.is_wrong_type(typed[child.name], text[child.name], child)


def _implausible_event_time(event: Column) -> Column:
    event_time = event["event_time"]
    latest = F.timestamp_add("DAY", F.lit(MAX_EVENT_AHEAD_DAYS), event["produced_at"])
    return (event_time < timestamp_literal(EARLIEST_EVENT_TIME)) | (event_time > latest)


def _has_bounds(f: Field) -> bool:
    return f.minimum is not None or f.maximum is not None


def _bound(limit: float, f: Field) -> Column:
    # exact literals: a float 0.01 compared with a decimal would go through double
    if f.kind == "money":
        return F.lit(Decimal(str(limit)))
    return F.lit(int(limit))


def _outside(value: Column, f: Field) -> Column:
    below = value < _bound(f.minimum, f) if f.minimum is not None else F.lit(False)
    above = value > _bound(f.maximum, f) if f.maximum is not None else F.lit(False)
    return below | above


def _discount_above_gross(_event: Column, line: Column) -> Column:
    """A line's discount cannot exceed what the line costs before it."""
    return line["discount"] > line["quantity"] * line["unit_price"]


def _wrong_stock_sign(event: Column, item: Column) -> Column:
    """Stock goes up only on a restock and down on anything else; a zero change is noise."""
    quantity = item["quantity"]
    restocking = event["change_type"].isin(*RESTOCKING_CHANGE_TYPES)
    return F.when(restocking, quantity <= 0).otherwise(quantity >= 0)


# (event type, array field) -> item rules that involve more than one field
CROSS_FIELD_ITEM_RULES: dict[
    tuple[str, str], tuple[tuple[str, Callable[[Column, Column], Column]], ...]
] = {
    ("sale", "lines"): (("lines[].discount", _discount_above_gross),),
    ("inventory_change", "items"): (("items[].quantity", _wrong_stock_sign),),
}
