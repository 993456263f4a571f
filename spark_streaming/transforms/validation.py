"""Parse Kafka payloads and give each record a reason code when it is unusable.

Reason codes, first failing check wins:
malformed_json, missing_field (event_type), unknown_event_type, wrong_type,
missing_field, out_of_range, invalid_value, future_event_time (event_time ahead of
the record's arrival, see `rules.future_event_time`). Every record is checked against the
contract of its own event type; see `payload` for what counts as a wrong type. This is
the part of a micro-batch that runs on the executors; everything after it works on its
result in the driver (`spark_streaming.batch`).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from functools import reduce

from pyspark import SparkContext
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from retail_lakehouse.contracts import EventContract, EventFamily, event_types
from spark_streaming.transforms import payload, rules
from spark_streaming.transforms.rules import MISSING_FIELD

MALFORMED_JSON = "malformed_json"
UNKNOWN_EVENT_TYPE = "unknown_event_type"

# Longest event_type value echoed into reason_detail: a garbage value can be huge
_DETAIL_MAX_CHARS = 200

_VERDICT = "_verdict"

# (reason, detail, failed)
Check = tuple[str, Column, Column]


def validated_records(kafka_rows: DataFrame, families: Mapping[str, EventFamily]) -> DataFrame:
    """Every Kafka record of a batch over several topics, parsed and checked against
    the contracts of its topic's family (`families`: topic -> family), in one projection.

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
    rows = kafka_rows.select(
        F.col("key").cast("binary").alias("key"),
        F.col("value").cast("binary").alias("value"),
        F.col("topic").cast("string").alias("topic"),
        F.col("partition").cast("int").alias("partition"),
        F.col("offset").cast("long").alias("offset"),
        F.col("timestamp").cast("timestamp").alias("kafka_timestamp"),
        F.col("timestampType").cast("int").alias("kafka_timestamp_type"),
    )
    kafka_columns = rows.columns
    if not families:
        raise ValueError("validated_records needs at least one topic")
    built = {topic: _validation_columns(family) for topic, family in families.items()}
    # one projection per parse depth for every family at once: each DataFrame step is
    # analysed anew over the whole plan, so a step per column cost a second per batch
    for depth in range(_PARSE_DEPTHS):
        rows = rows.select(
            "*",
            *(
                F.when(F.col("topic") == F.lit(topic), column).alias(name)
                for topic, columns in built.items()
                for name, column in columns.parse_steps[depth]
            ),
        )
    verdict: Column | None = None
    for topic, columns in built.items():
        on_topic = F.col("topic") == F.lit(topic)
        verdict = (
            F.when(on_topic, columns.verdict)
            if verdict is None
            else verdict.when(on_topic, columns.verdict)
        )
    assert verdict is not None
    rows = rows.select("*", _evaluated_here(verdict).alias(_VERDICT))
    reason = F.col(f"{_VERDICT}.reason")
    events = {f.name: F.col(_event_column(f)) for f in families.values()}
    return rows.select(
        *kafka_columns,
        reason.alias("reason"),
        F.col(f"{_VERDICT}.detail").alias("reason_detail"),
        # U+FFFD for invalid bytes: the quarantine column is a string, and Arrow and the
        # warehouse both insist on valid UTF-8
        F.when(reason.isNotNull(), F.make_valid_utf8(F.col("value").cast("string"))).alias(
            "raw_payload"
        ),
        *(F.coalesce(*(e[name] for e in events.values())).alias(name) for name in ENVELOPE),
        *(F.when(reason.isNull(), event).alias(name) for name, event in events.items()),
    )


# What every event carries, whatever its family: read even from a rejected record
ENVELOPE = ("event_id", "event_type", "event_time", "produced_at")


class _ValidationColumns:
    """A family's parse and verdict expressions. They depend on the family alone and
    take thousands of JVM calls to build (seconds per micro-batch), so they are built
    once per family and JVM and reused: an unresolved expression binds to whichever
    DataFrame it is used on."""

    def __init__(self, family: EventFamily) -> None:
        self.parse_steps, fields = _parse_steps(family)
        self.verdict = _first_failure(_all_rules(fields, family))


_BUILT: dict[tuple[str, int], _ValidationColumns] = {}
_BUILDING = threading.Lock()


def _validation_columns(family: EventFamily) -> _ValidationColumns:
    key = (family.name, id(SparkContext._gateway))
    with _BUILDING:
        if key not in _BUILT:
            _BUILT[key] = _ValidationColumns(family)
        return _BUILT[key]


_PARSE_DEPTHS = 3  # the payload text; its text parse; the typed event and array items


def _parse_steps(
    family: EventFamily,
) -> tuple[list[list[tuple[str, Column]]], payload.ParsedPayload]:
    """Columns to add, named per family, in `_PARSE_DEPTHS` layers that each read only
    the layers before: the payload text; its text parse; the typed event and each
    array's items as text."""
    text_name, fields_name = f"_{family.name}_text", f"_{family.name}_fields"
    text = F.col("value").cast("string")
    items = [
        (_items_column(family, f.name), payload.parse_items(F.col(fields_name)[f.name], f))
        for f in payload.array_fields(family)
    ]
    layers = [
        # invalid UTF-8 is not JSON (RFC 8259); it never reaches the parser
        [(text_name, F.when(F.is_valid_utf8(text), text))],
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


def _evaluated_here(column: Column) -> Column:
    """The column, computed in this projection and nowhere else.

    Without this, a later filter on `reason` (silver keeps reason IS NULL) is pushed
    below the projections and the JSON parses are inlined into it once per rule:
    measured 16x slower. A non-deterministic term (always true) stops the pushdown.
    """
    return F.when(F.spark_partition_id() >= 0, column)


def _items_column(family: EventFamily, field_name: str) -> str:
    return f"_{family.name}_{field_name}_items"


def _is_of_type(parsed: payload.ParsedPayload, contract: EventContract) -> Column:
    return parsed.event["event_type"].isin(*(contract.field("event_type").allowed or ()))


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
        of_this_type = _is_of_type(parsed, contract)
        all_checks.extend(
            (reason, detail, of_this_type & failed)
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
