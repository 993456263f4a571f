"""Validation rules of one event type, derived from its contract.

A rule is (reason, detail, failed): a reason code, then two Columns over a parsed
payload (`payload.ParsedPayload`): the detail string and whether the rule fails.
Rules come out in check order: every wrong_type rule, then missing_field,
out_of_range and invalid_value, each stage field by field in contract order.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from pyspark.sql import Column
from pyspark.sql import functions as F

from retail_lakehouse.contracts import EventContract, Field
from spark_streaming.schemas import spark_type
from spark_streaming.transforms import payload
from spark_streaming.transforms.literals import timestamp_literal

WRONG_TYPE = "wrong_type"
MISSING_FIELD = "missing_field"
OUT_OF_RANGE = "out_of_range"
INVALID_VALUE = "invalid_value"
FUTURE_EVENT_TIME = "future_event_time"
STAGES = (WRONG_TYPE, MISSING_FIELD, OUT_OF_RANGE, INVALID_VALUE)

Rule = tuple[str, Column, Column]

# Event times before this are clock or encoding bugs (epoch seconds read as ms, ...)
EARLIEST_EVENT_TIME = datetime(2000, 1, 1, tzinfo=UTC)
# How far an event may lie ahead of its own send time (a till's clock running fast)
MAX_EVENT_AHEAD_DAYS = 1
# How far an event may lie ahead of its arrival (clock skew between a till and the
# broker or the job). An event further ahead would move the watermark forward for
# good, so it is quarantined; the watermark can be pushed at most this far by skew.
MAX_EVENT_AHEAD_OF_ARRIVAL = timedelta(minutes=1)
# Stock goes up on these change types and down on every other one
RESTOCKING_CHANGE_TYPES = ("restock",)


def contract_rules(
    parsed: payload.ParsedPayload,
    contract: EventContract,
    *,
    with_types: bool = True,
    exact: bool = True,
) -> list[Rule]:
    """The contract's rules in check order; without the wrong_type ones (which read
    the payload's text) when `with_types` is False: `parsed.text` and `parsed.items`
    are then not used. Not `exact`: a rule may also fail on some valid values, where
    that saves work (the fast check, whose faults the rule chain looks at again)."""
    by_stage: dict[str, list[tuple[Column, Column]]] = {stage: [] for stage in STAGES}
    for f in contract.fields:
        checks = (
            _array_checks(parsed, f, contract, with_types, exact)
            if f.kind == "array"
            else _scalar_checks(parsed, f, with_types)
        )
        for stage, detail, failed in checks:
            by_stage[stage].append((detail, failed))
    by_stage[OUT_OF_RANGE].append((F.lit("event_time"), _implausible_event_time(parsed.event)))
    return [(stage, detail, failed) for stage in STAGES for detail, failed in by_stage[stage]]


def _scalar_checks(parsed: payload.ParsedPayload, f: Field, with_types: bool) -> list[Rule]:
    typed, name = parsed.event[f.name], F.lit(f.name)
    checks: list[Rule] = []
    if f.kind != "string" and with_types:
        text = parsed.text[f.name]
        checks.append((WRONG_TYPE, name, payload.is_wrong_type(typed, text, f)))
    if f.required:
        checks.append((MISSING_FIELD, name, typed.isNull()))
    if _has_bounds(f):
        checks.append((OUT_OF_RANGE, name, _outside(typed, typed, f)))
    if f.allowed is not None:
        checks.append((INVALID_VALUE, name, ~typed.isin(*f.allowed)))
    return checks


def _array_checks(
    parsed: payload.ParsedPayload,
    f: Field,
    contract: EventContract,
    with_types: bool,
    exact: bool,
) -> list[Rule]:
    """Checks of an array and of its items' fields, on whole arrays of one item field
    at a time (lines.quantity is an array<int>): vectorised array functions run
    compiled, while a lambda per item would run interpreted, several times slower."""
    typed = parsed.event[f.name]
    checks: list[Rule] = []
    if with_types:
        text, items = parsed.text[f.name], parsed.items[f.name]
        checks += [
            (WRONG_TYPE, F.lit(f.name), payload.is_not_array(typed, text, items)),
            (WRONG_TYPE, F.lit(f"{f.name}[]"), payload.has_non_object_item(text, items)),
        ]
    if f.required:
        checks.append((MISSING_FIELD, F.lit(f.name), typed.isNull() | (F.size(typed) == 0)))
    for child in f.items:
        values = typed[child.name]
        detail = F.lit(f"{f.name}[].{child.name}")
        if child.kind != "string" and with_types:
            texts = items[child.name]
            checks.append((WRONG_TYPE, detail, payload.has_wrong_type_item(values, texts, child)))
        if child.required:
            nulls = (
                payload.has_null(values)
                if exact
                else payload.may_hold_null(values, payload.sentinel(spark_type(child)))
            )
            checks.append((MISSING_FIELD, detail, nulls))
        if _has_bounds(child):
            smallest, largest = F.array_min(values), F.array_max(values)
            checks.append((OUT_OF_RANGE, detail, _outside(smallest, largest, child)))
        if child.allowed is not None:
            checks.append((INVALID_VALUE, detail, _any_not_in(values, child.allowed)))
    for detail_text, rule in CROSS_FIELD_ITEM_RULES.get((contract.event_type, f.name), ()):
        checks.append((INVALID_VALUE, F.lit(detail_text), rule(parsed.event)))
    return checks


def _implausible_event_time(event: Column) -> Column:
    event_time = event["event_time"]
    latest = F.timestamp_add("DAY", F.lit(MAX_EVENT_AHEAD_DAYS), event["produced_at"])
    return (event_time < timestamp_literal(EARLIEST_EVENT_TIME)) | (event_time > latest)


def future_event_time(event: Column, arrival: Column) -> Rule:
    """(reason, detail, failed): event_time further ahead of the record's arrival than
    clock skew explains. produced_at is no guard: the same bad clock writes it.

    A record arrived at the earlier of its Kafka timestamp and the time the job read
    it (a producer with a clock in the future may stamp CreateTime from that same
    clock, but it cannot make the record arrive after the job read it). Spark checks
    the Kafka timestamp (`arrival`); the batch checks its read time in the driver
    (`spark_streaming.batch.records`), which keeps per-batch values out of the plan."""
    limit = arrival + F.make_dt_interval(secs=F.lit(MAX_EVENT_AHEAD_OF_ARRIVAL.total_seconds()))
    return (FUTURE_EVENT_TIME, F.lit("event_time"), event["event_time"] > limit)


def _has_bounds(f: Field) -> bool:
    return f.minimum is not None or f.maximum is not None


def _bound(limit: float, f: Field) -> Column:
    # exact literals: a float 0.01 compared with a decimal would go through double
    if f.kind == "money":
        return F.lit(Decimal(str(limit)))
    return F.lit(int(limit))


def _outside(smallest: Column, largest: Column, f: Field) -> Column:
    below = smallest < _bound(f.minimum, f) if f.minimum is not None else F.lit(False)
    above = largest > _bound(f.maximum, f) if f.maximum is not None else F.lit(False)
    return below | above


def _any_not_in(values: Column, allowed: tuple[str, ...]) -> Column:
    return F.exists(values, lambda value: ~value.isin(*allowed))


def _discount_above_gross(event: Column) -> Column:
    """A line's discount cannot exceed what the line costs before it."""
    return F.exists(
        event["lines"], lambda line: line["discount"] > line["quantity"] * line["unit_price"]
    )


def _wrong_stock_sign(event: Column) -> Column:
    """Stock goes up only on a restock and down on anything else; a zero change is noise."""
    quantities = event["items"]["quantity"]
    restocking = event["change_type"].isin(*RESTOCKING_CHANGE_TYPES)
    return F.when(restocking, F.array_min(quantities) <= 0).otherwise(F.array_max(quantities) >= 0)


# (event type, array field) -> (detail, failed) rules on an event that involve more
# than one field of an item, or a field of the event and one of its items
CROSS_FIELD_ITEM_RULES: dict[
    tuple[str, str], tuple[tuple[str, Callable[[Column], Column]], ...]
] = {
    ("sale", "lines"): (("lines[].discount", _discount_above_gross),),
    ("inventory_change", "items"): (("items[].quantity", _wrong_stock_sign),),
}
