"""Parse bronze payloads, give each record a reason code when it is unusable, and
shape the unusable ones for the quarantine table.

Reason codes, first failing check wins:
malformed_json, missing_field (event_type), unknown_event_type, wrong_type,
missing_field, out_of_range, invalid_value, future_event_time (event_time ahead of
the record's arrival, see `rules.future_event_time`). Every record is checked against the
contract of its own event type; see `payload` for what counts as a wrong type.
"""

from __future__ import annotations

import threading
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

_TEXT = "_payload_text"
_TEXT_PARSE = "_payload_fields"
_VERDICT = "_verdict"

# (reason, detail, failed)
Check = tuple[str, Column, Column]


def parse_and_validate(bronze: DataFrame, family: EventFamily) -> DataFrame:
    """Bronze rows + `event` (typed with read_schema(family); null when the payload is
    not one JSON object) + `reason` and `reason_detail` (both null when valid)."""
    columns = _validation_columns(family)
    parsed = bronze
    for name, column in columns.parse_steps:
        parsed = parsed.withColumn(name, column)
    return parsed.withColumn(_VERDICT, columns.verdict).select(
        *bronze.columns,
        "event",
        F.col(f"{_VERDICT}.reason").alias("reason"),
        F.col(f"{_VERDICT}.detail").alias("reason_detail"),
    )


class _ValidationColumns:
    """A family's parse and verdict expressions. They depend on the family alone and
    take thousands of JVM calls to build (seconds per micro-batch), so they are built
    once per family and JVM and reused: an unresolved expression binds to whichever
    DataFrame it is used on."""

    def __init__(self, family: EventFamily) -> None:
        self.parse_steps, fields = _parse_steps(family)
        self.verdict = _evaluated_here(_first_failure(_all_rules(fields, family)))


_BUILT: dict[tuple[str, int], _ValidationColumns] = {}
_BUILDING = threading.Lock()


def _validation_columns(family: EventFamily) -> _ValidationColumns:
    key = (family.name, id(SparkContext._gateway))
    with _BUILDING:
        if key not in _BUILT:
            _BUILT[key] = _ValidationColumns(family)
        return _BUILT[key]


def quarantine_rows(validated: DataFrame, family: EventFamily) -> DataFrame:
    """The rejected records of a validated batch, as quarantine table rows."""
    return validated.where(F.col("reason").isNotNull()).select(
        F.lit(family.name).alias("family"),
        "topic",
        F.col("partition").cast("int").alias("partition"),
        F.col("offset").cast("long").alias("offset"),
        "kafka_timestamp",
        "key",
        # U+FFFD for invalid bytes: the table column is a string, and Arrow and the
        # warehouse both insist on valid UTF-8
        F.make_valid_utf8(F.col("value").cast("string")).alias("raw_payload"),
        "reason",
        "reason_detail",
        F.col("event.event_id").alias("event_id"),
        F.col("event.event_type").alias("event_type"),
        "ingested_at",
        "ingest_date",
    )


def _parse_steps(
    family: EventFamily,
) -> tuple[list[tuple[str, Column]], payload.ParsedPayload]:
    """Columns added in order: the payload text, its text parse, `event` and each
    array's items as text."""
    text = F.col("value").cast("string")
    # invalid UTF-8 is not JSON (RFC 8259); it never reaches the parser
    steps = [
        (_TEXT, F.when(F.is_valid_utf8(text), text)),
        (_TEXT_PARSE, payload.parse_text(F.col(_TEXT), family)),
        (
            "event",
            F.when(
                ~payload.is_malformed(F.col(_TEXT_PARSE)),
                payload.parse_typed(F.col(_TEXT), family),
            ),
        ),
    ]
    for f in payload.array_fields(family):
        steps.append((_items_column(f.name), payload.parse_items(F.col(_TEXT_PARSE)[f.name], f)))
    fields = payload.ParsedPayload(
        event=F.col("event"),
        text=F.col(_TEXT_PARSE),
        items={f.name: F.col(_items_column(f.name)) for f in payload.array_fields(family)},
    )
    return steps, fields


def _evaluated_here(column: Column) -> Column:
    """The column, computed in this projection and nowhere else.

    Without this, a later filter on `reason` (silver keeps reason IS NULL) is pushed
    below the projections and the JSON parses are inlined into it once per rule:
    measured 16x slower. A non-deterministic term (always true) stops the pushdown.
    """
    return F.when(F.spark_partition_id() >= 0, column)


def _items_column(field_name: str) -> str:
    return f"_payload_{field_name}_items"


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
    arrival = rules.arrival_time(F.col("kafka_timestamp"), F.col("ingested_at"))
    all_checks.append(rules.future_event_time(parsed.event, arrival))
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
