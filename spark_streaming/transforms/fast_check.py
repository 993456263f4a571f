"""The cheap check most records pass: one typed parse, then the contract's value rules.

A payload is parsed once with a schema that reads money exactly (DECIMAL(38,18)) and
timestamps as text, and that keeps a corrupt-record column: Spark fills it when any
field, at any depth, cannot be read as its type (an int given as "3" or 3.5, an item
that is no object...). A record passes when it is valid UTF-8, nothing is corrupt,
every amount fits money exactly, every timestamp is in the contract's format in UTC
(`read_timestamp`), no array holds a null item, and the contract's value rules
(required fields, ranges, allowed values, cross-field rules, event times) all pass.
Every record that passes is one the full rule chain (`validation.rule_chain`) finds no
fault in; the few valid ones it does not pass (a timestamp with another offset) the
chain clears. The typed event of a record that passes is the parsed one with money
cast to DECIMAL(12,2) and timestamps read.
"""

from __future__ import annotations

from functools import reduce

from pyspark.sql import Column
from pyspark.sql import functions as F
from pyspark.sql import types as T

from retail_lakehouse.contracts import EventFamily, Field, merged_fields
from spark_streaming.schemas import MONEY, read_schema, spark_type
from spark_streaming.transforms import payload, rules

CORRUPT = "_corrupt_record"
_EXACT = T.DecimalType(38, 18)
_OPTIONS = {"mode": "PERMISSIVE", "columnNameOfCorruptRecord": CORRUPT}
# contracts.TIMESTAMP_FORMAT's spelling in UTC: the one `read_timestamp` reads itself
_UTC_MILLIS = r"^[1-9][0-9]{3}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z$"


def _fast_type(f: Field) -> T.DataType:
    if f.kind == "array":
        return T.ArrayType(T.StructType([T.StructField(c.name, _fast_type(c)) for c in f.items]))
    if f.kind == "money":
        return _EXACT
    if f.kind == "timestamp":
        return T.StringType()
    return spark_type(f)


def fast_schema(family: EventFamily) -> T.StructType:
    fields = [T.StructField(f.name, _fast_type(f)) for f in merged_fields(family)]
    return T.StructType([*fields, T.StructField(CORRUPT, T.StringType())])


def payload_text() -> Column:
    """A Kafka record's value as text, as it is (valid UTF-8 or not)."""
    return F.col("value").cast("string")


def parse_fast(family: EventFamily) -> Column:
    """The payload parsed as it is: invalid UTF-8 is parsed too (into nonsense) and
    found by `type_faults`, so that the parse's input needs no check of its own (from_json
    evaluates its input interpreted: a check there cost a twentieth of the batch)."""
    return F.from_json(payload_text(), fast_schema(family), _OPTIONS)


def read_timestamp(text: Column) -> Column:
    """The instant of a timestamp written as producers write it, in UTC with a Z
    (2026-11-01T09:30:00.000Z); null for anything else.

    Parsing with contracts.TIMESTAMP_FORMAT (java.time) took a tenth of the batch's
    CPU; this shape reads with Spark's own compiled cast, to the same instant. Other
    spellings the format accepts (an offset such as +01:00) are left to the rule
    chain, which reads them with the format."""
    return F.when(text.rlike(_UTC_MILLIS), text.try_cast(T.TimestampType()))


def typed_event(fast: Column, family: EventFamily) -> Column:
    """The event in `read_schema(family)`'s types, from a fast parse."""
    columns = []
    for f in merged_fields(family):
        value = fast[f.name]
        if f.kind == "money":
            value = value.try_cast(MONEY)
        elif f.kind == "timestamp":
            value = read_timestamp(value)
        elif f.kind == "array":
            if any(c.kind == "timestamp" for c in f.items):
                raise NotImplementedError(f"{f.name}: timestamps inside arrays")
            value = value.try_cast(spark_type(f))
        columns.append(value.alias(f.name))
    return F.struct(*columns).cast(read_schema(family))


def type_faults(fast: Column, event: Column, family: EventFamily) -> Column:
    """True when something is present but not readable as its type (see module doc),
    or the payload is no valid UTF-8. `event`: `typed_event` of the same parse."""
    faults = [fast.isNull(), fast[CORRUPT].isNotNull(), ~F.is_valid_utf8(payload_text())]
    for f in merged_fields(family):
        value = fast[f.name]
        if f.kind == "money":
            faults.append(_inexact(value, event[f.name], _EXACT))
        elif f.kind == "timestamp":
            faults.append(value.isNotNull() & event[f.name].isNull())
        elif f.kind == "array":
            if not any(child.required for child in f.items):
                # otherwise a null item is a null required field, which `value_faults`
                # finds without sorting whole items
                faults.append(payload.has_null(value))
            for child in f.items:
                if child.kind == "money":
                    faults.append(
                        _inexact(value[child.name], event[f.name][child.name], T.ArrayType(_EXACT))
                    )
    return _any(faults)


def value_faults(event: Column, family: EventFamily) -> Column:
    """True when a value rule of the event's own contract fails (anything but a wrong
    type, which `type_faults` covers), or the event type is missing or unknown."""
    from spark_streaming.transforms.validation import event_type_faults, of_type

    parsed = payload.ParsedPayload(event=event, text=F.lit(None), items={})
    faults = [event_type_faults(event, family)]
    for contract in family.contracts:
        checks = [
            failed
            for reason, _, failed in rules.contract_rules(
                parsed, contract, with_types=False, exact=False
            )
        ]
        faults.append(of_type(event, contract) & _any(checks))
    faults.append(rules.future_event_time(event, F.col("kafka_timestamp"))[2])
    return _any(faults)


def _inexact(amount: Column, money: Column, exact: T.DataType) -> Column:
    """Present, but not a money amount as it is: more decimals, or too large. `money`:
    the same amount in the event, as money (null when it does not fit)."""
    same = amount == money.cast(exact)
    return amount.isNotNull() & ~F.coalesce(same, F.lit(False))


def _any(conditions: list[Column]) -> Column:
    """Whether any condition holds; an unknown one (null) does not, as in the rule
    chain's CASE, where a null condition is not taken."""
    return reduce(lambda a, b: a | b, (F.coalesce(c, F.lit(False)) for c in conditions))
