"""Parse Kafka payloads and give each record a reason code when it is unusable.

Reason codes, first failing check wins:
malformed_json, missing_field (event_type), unknown_event_type, wrong_type,
missing_field, out_of_range, invalid_value, future_event_time (event_time ahead of
the record's arrival, see `rules.future_event_time`). Every record is checked against the
contract of its own event type; see `payload` for what counts as a wrong type.

Two ways to the same verdict. `rule_chain` is the definition: it parses each payload
three ways (typed, as text, and each array's items as text) and walks every rule in
order, so it can name the first failing one. Most records are valid, so
`validated_records` first runs the cheap check of `fast_check` (one typed parse and
the value rules); only a record it finds a fault in goes through the rule chain, which
names the reason (and has the last word: a record the chain passes is valid). This is
the part of a micro-batch that runs on the executors; everything after it works on its
result in the driver (`spark_streaming.batch`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from functools import reduce

from pyspark import SparkContext
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from retail_lakehouse.contracts import EventContract, EventFamily, event_types
from spark_streaming.transforms import fast_check, payload, rules
from spark_streaming.transforms.rules import MISSING_FIELD

MALFORMED_JSON = "malformed_json"
UNKNOWN_EVENT_TYPE = "unknown_event_type"

# What every event carries, whatever its family: read even from a rejected record
ENVELOPE = ("event_id", "event_type", "event_time", "produced_at")

# Longest event_type value echoed into reason_detail: a garbage value can be huge
_DETAIL_MAX_CHARS = 200

# (reason, detail, failed)
Check = tuple[str, Column, Column]


def validated_records(kafka_rows: DataFrame, families: Mapping[str, EventFamily]) -> DataFrame:
    """Every Kafka record of a batch over several topics, parsed and checked against
    the contracts of its topic's family (`families`: topic -> family).

    Columns: the Kafka record (key, value, topic, partition, offset, kafka_timestamp,
    kafka_timestamp_type); `reason` and `reason_detail` (null when valid); `raw_payload`
    (the value as valid UTF-8, for rejected records only); the envelope every event
    shares (event_id, event_type, event_time, produced_at, as far as they could be
    read); and one column per family, named after it, holding the typed event of a
    valid record of that family (null otherwise).

    One rule needs the time the batch was read: an event further ahead of its arrival
    than clock skew explains. Here arrival is the record's Kafka timestamp; the caller
    checks the batch's ingest time (`FUTURE_EVENT_TIME`), so that no per-batch value
    enters the plan and Spark compiles it once, not every micro-batch.
    """
    rows, kafka_columns = _kafka_columns(kafka_rows, families)
    built = {topic: _fast_columns(family) for topic, family in families.items()}
    # one projection per step for every family at once: each DataFrame step is
    # analysed anew over the whole plan, so a step per column cost a second per batch
    rows = rows.select(
        "*",
        *(
            _on(topic, parse).alias(f"_{c.name}_fast")
            for topic, c in built.items()
            for parse in [c.parse]
        ),
    )
    for suffix in ("event", "faulty"):
        rows = rows.select(
            "*",
            *(
                _on(topic, getattr(c, suffix)).alias(f"_{c.name}_{suffix}")
                for topic, c in built.items()
            ),
        )
    # the rule chain, only for what the fast check found a fault in (a CASE evaluates a
    # branch only when it is taken; the chain's own parses are bound once, in lambdas)
    rows = rows.select(
        "*",
        *(
            _evaluated_here(
                _on(
                    topic,
                    F.when(F.col(f"_{c.name}_faulty"), c.chain).otherwise(
                        F.struct(
                            F.lit(None).cast("string").alias("reason"),
                            F.lit(None).cast("string").alias("detail"),
                            F.col(f"_{c.name}_event").alias("event"),
                        )
                    ),
                )
            ).alias(f"_{c.name}_outcome")
            for topic, c in built.items()
        ),
    )
    outcomes = [F.col(f"_{f.name}_outcome") for f in families.values()]
    return _shaped(
        rows,
        kafka_columns,
        families,
        F.coalesce(*(o["reason"] for o in outcomes)),
        F.coalesce(*(o["detail"] for o in outcomes)),
        lambda f: F.col(f"_{f.name}_outcome.event"),
    )


def rule_chain(kafka_rows: DataFrame, families: Mapping[str, EventFamily]) -> DataFrame:
    """`validated_records` by the rule chain alone, for every record: the definition
    the fast path must agree with (the tests compare the two)."""
    rows, kafka_columns = _kafka_columns(kafka_rows, families)
    built = {topic: _chain_columns(family) for topic, family in families.items()}
    for depth in range(_PARSE_DEPTHS):
        rows = rows.select(
            "*",
            *(
                _on(topic, column).alias(name)
                for topic, columns in built.items()
                for name, column in columns.parse_steps[depth]
            ),
        )
    verdict = _per_topic({topic: c.verdict for topic, c in built.items()})
    rows = rows.select("*", _evaluated_here(verdict).alias("_outcome"))
    return _shaped(
        rows,
        kafka_columns,
        families,
        F.col("_outcome.reason"),
        F.col("_outcome.detail"),
        lambda f: F.col(_event_column(f)),
    )


def _kafka_columns(
    kafka_rows: DataFrame, families: Mapping[str, EventFamily]
) -> tuple[DataFrame, list[str]]:
    if not families:
        raise ValueError("validated_records needs at least one topic")
    rows = kafka_rows.select(
        F.col("key").cast("binary").alias("key"),
        F.col("value").cast("binary").alias("value"),
        F.col("topic").cast("string").alias("topic"),
        F.col("partition").cast("int").alias("partition"),
        F.col("offset").cast("long").alias("offset"),
        F.col("timestamp").cast("timestamp").alias("kafka_timestamp"),
        F.col("timestampType").cast("int").alias("kafka_timestamp_type"),
    )
    return rows, rows.columns


def _shaped(
    rows: DataFrame,
    kafka_columns: list[str],
    families: Mapping[str, EventFamily],
    reason: Column,
    detail: Column,
    event_of: Callable[[EventFamily], Column],
) -> DataFrame:
    events = {
        f.name: F.when(F.col("topic") == F.lit(topic), event_of(f)) for topic, f in families.items()
    }
    return rows.select(
        *kafka_columns,
        reason.alias("reason"),
        detail.alias("reason_detail"),
        # U+FFFD for invalid bytes: the quarantine column is a string, and Arrow and the
        # warehouse both insist on valid UTF-8
        F.when(reason.isNotNull(), F.make_valid_utf8(F.col("value").cast("string"))).alias(
            "raw_payload"
        ),
        *(F.coalesce(*(e[name] for e in events.values())).alias(name) for name in ENVELOPE),
        *(F.when(reason.isNull(), event).alias(name) for name, event in events.items()),
    )


def _on(topic: str, column: Column) -> Column:
    return F.when(F.col("topic") == F.lit(topic), column)


def _per_topic(by_topic: Mapping[str, Column]) -> Column:
    outcome: Column | None = None
    for topic, column in by_topic.items():
        on_topic = F.col("topic") == F.lit(topic)
        outcome = F.when(on_topic, column) if outcome is None else outcome.when(on_topic, column)
    assert outcome is not None
    return outcome


class _FastColumns:
    """A family's fast parse, fast verdict and lazy rule chain (built once per JVM)."""

    def __init__(self, family: EventFamily) -> None:
        self.name = family.name
        fast = F.col(f"_{family.name}_fast")
        event = F.col(f"_{family.name}_event")
        self.parse = fast_check.parse_fast(family)
        self.event = fast_check.typed_event(fast, family)
        self.faulty = fast_check.type_faults(fast, event, family) | fast_check.value_faults(
            event, family
        )
        self.chain = _lazy_chain(family)


class _ChainColumns:
    """A family's eager parse columns and rule chain verdict (built once per JVM)."""

    def __init__(self, family: EventFamily) -> None:
        self.parse_steps, fields = _parse_steps(family)
        first = _first_failure(_all_rules(fields, family))
        self.verdict = F.struct(first["reason"].alias("reason"), first["detail"].alias("detail"))


_BUILT: dict[tuple[str, str, int], object] = {}
_BUILDING = threading.Lock()


def _fast_columns(family: EventFamily) -> _FastColumns:
    return _built("fast", family, _FastColumns)  # type: ignore[return-value]


def _chain_columns(family: EventFamily) -> _ChainColumns:
    return _built("chain", family, _ChainColumns)  # type: ignore[return-value]


def _built(kind: str, family: EventFamily, make: Callable[[EventFamily], object]) -> object:
    """Expressions take thousands of JVM calls to build (seconds): built once per
    family and JVM and reused, as an unresolved expression binds to any DataFrame."""
    key = (kind, family.name, id(SparkContext._gateway))
    with _BUILDING:
        if key not in _BUILT:
            _BUILT[key] = make(family)
        return _BUILT[key]


def _payload_text() -> Column:
    # invalid UTF-8 is not JSON (RFC 8259); it never reaches the chain's parsers
    text = fast_check.payload_text()
    return F.when(F.is_valid_utf8(text), text)


def _lazy_chain(family: EventFamily) -> Column:
    """struct(reason, detail, event) by the rule chain, each parse of the payload bound
    once to a lambda variable: evaluated only for the records that reach it."""
    text = _payload_text()
    arrays = payload.array_fields(family)

    def with_fields(fields: Column) -> Column:
        typed = F.when(~payload.is_malformed(fields), payload.parse_typed(text, family))

        def with_event(event: Column) -> Column:
            def with_items(bound: dict[str, Column], rest: list) -> Column:
                if rest:
                    f, *others = rest
                    items = payload.parse_items(fields[f.name], f)
                    return _bind(items, lambda v: with_items({**bound, f.name: v}, others))
                parsed = payload.ParsedPayload(event=event, text=fields, items=bound)
                first = _first_failure(_all_rules(parsed, family))
                return F.struct(
                    first["reason"].alias("reason"),
                    first["detail"].alias("detail"),
                    event.alias("event"),
                )

            return with_items({}, list(arrays))

        return _bind(typed, with_event)

    return _bind(payload.parse_text(text, family), with_fields)


def _bind(value: Column, body: Callable[[Column], Column]) -> Column:
    """`body(value)` with `value` computed once: Spark has no let, a lambda over a
    one-element array is one."""
    return F.element_at(F.transform(F.array(value), body), 1)


_PARSE_DEPTHS = 3  # the payload text; its text parse; the typed event and array items


def _parse_steps(
    family: EventFamily,
) -> tuple[list[list[tuple[str, Column]]], payload.ParsedPayload]:
    """Columns to add, named per family, in `_PARSE_DEPTHS` layers that each read only
    the layers before: the payload text; its text parse; the typed event and each
    array's items as text."""
    text_name, fields_name = f"_{family.name}_text", f"_{family.name}_fields"
    items = [
        (_items_column(family, f.name), payload.parse_items(F.col(fields_name)[f.name], f))
        for f in payload.array_fields(family)
    ]
    layers = [
        [(text_name, _payload_text())],
        [(fields_name, payload.parse_text(F.col(text_name), family))],
        [
            (
                _event_column(family),
                F.when(
                    ~payload.is_malformed(F.col(fields_name)),
                    payload.parse_typed(F.col(text_name), family),
                ),
            ),
            *items,
        ],
    ]
    fields = payload.ParsedPayload(
        event=F.col(_event_column(family)),
        text=F.col(fields_name),
        items={f.name: F.col(_items_column(family, f.name)) for f in payload.array_fields(family)},
    )
    return layers, fields


def _event_column(family: EventFamily) -> str:
    return f"_{family.name}_event"


def _items_column(family: EventFamily, field_name: str) -> str:
    return f"_{family.name}_{field_name}_items"


def _evaluated_here(column: Column) -> Column:
    """The column, computed in this projection and nowhere else.

    Without this, a later filter on `reason` (silver keeps reason IS NULL) is pushed
    below the projections and the JSON parses are inlined into it once per rule:
    measured 16x slower. A non-deterministic term (always true) stops the pushdown.
    """
    return F.when(F.spark_partition_id() >= 0, column)


def of_type(event: Column, contract: EventContract) -> Column:
    return event["event_type"].isin(*(contract.field("event_type").allowed or ()))


def event_type_faults(event: Column, family: EventFamily) -> Column:
    event_type = event["event_type"]
    return event_type.isNull() | ~event_type.isin(*event_types(family))


def _all_rules(parsed: payload.ParsedPayload, family: EventFamily) -> list[Check]:
    """Every check of the family, in order."""
    value = F.col("value")
    text = value.cast("string")
    event_type = parsed.event["event_type"]
    # fall back to the raw text: a number or an object given as event_type is shown too
    shown_type = F.left(parsed.text["event_type"], F.lit(_DETAIL_MAX_CHARS))
    all_checks: list[Check] = [
        (MALFORMED_JSON, F.lit("value is null"), value.isNull()),
        (MALFORMED_JSON, F.lit("payload is not valid UTF-8"), ~F.is_valid_utf8(text)),
        (MALFORMED_JSON, F.lit("payload is empty"), F.trim(text) == ""),
        (MALFORMED_JSON, _malformed_detail(text), payload.is_malformed(parsed.text)),
        (MISSING_FIELD, F.lit("event_type"), event_type.isNull()),
        (UNKNOWN_EVENT_TYPE, shown_type, ~event_type.isin(*event_types(family))),
    ]
    for contract in family.contracts:
        this_type = of_type(parsed.event, contract)
        all_checks.extend(
            (reason, detail, this_type & failed)
            for reason, detail, failed in rules.contract_rules(parsed, contract)
        )
    all_checks.append(rules.future_event_time(parsed.event, F.col("kafka_timestamp")))
    return all_checks


def _malformed_detail(text: Column) -> Column:
    # Spark's parser says only "corrupt"; the first character tells the two usual cases apart
    looks_like_object = F.ltrim(text).startswith("{")
    return F.when(looks_like_object, F.lit("payload is not valid JSON")).otherwise(
        F.lit("payload is not a JSON object")
    )


def _first_failure(checks: list[Check]) -> Column:
    """struct(reason, detail) of the first rule that fails; null when none does."""

    def outcome(rule: Check) -> Column:
        reason, detail, _ = rule
        return F.struct(F.lit(reason).alias("reason"), detail.cast("string").alias("detail"))

    first, *rest = checks
    chain = F.when(first[2], outcome(first))
    return reduce(lambda acc, rule: acc.when(rule[2], outcome(rule)), rest, chain)
