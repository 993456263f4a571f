"""Parsing a JSON payload twice: once typed, once as text, to tell wrong types apart.

`event` is `from_json` with the family's read schema. A value of the wrong JSON type
is null there, but so is an absent one; the second parse reads every leaf as text
(and each array as its raw JSON text, parsed again item by item), so "text present
but typed null" is exactly a wrong type. What Spark's from_json does, and so what
counts as a wrong type here (checked on pyspark 4.2):

- int / long: only a JSON integer that fits. "3" (a string), 3.5, 3.0, true and
  99999999999 for an int are wrong types.
- money: any JSON number that fits DECIMAL(12,2) exactly. from_json would round
  1.234 to 1.23; comparing with the text refuses it instead. A numeric string "1.23"
  is accepted (from_json reads it as money; the text parse cannot tell it apart).
- timestamp: a string in contracts.TIMESTAMP_FORMAT; from_json would read a number
  as seconds since 1970, so the text is checked against the format too.
- string: any JSON scalar is accepted as its text (from_json reads 5 as "5"); the
  allowed-value and required checks still apply.
- array: a JSON array of objects; "lines" when it is no array, "lines[]" when an
  item is no object (or null), "lines[].quantity" for an item field.
Invalid UTF-8 never reaches the parser; a payload that is not one JSON object
(invalid JSON, an array, a bare string or number) is flagged by the text parse's
corrupt-record column. Trailing bytes after the object are ignored, as Spark does.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from pyspark.sql import Column
from pyspark.sql import functions as F
from pyspark.sql import types as T

from retail_lakehouse.contracts import TIMESTAMP_FORMAT, EventFamily, Field, merged_fields
from spark_streaming.schemas import read_schema

CORRUPT_RECORD = "_corrupt_record"
_TYPED_OPTIONS = {"timestampFormat": TIMESTAMP_FORMAT, "mode": "PERMISSIVE"}
_TEXT_OPTIONS = {"columnNameOfCorruptRecord": CORRUPT_RECORD, "mode": "PERMISSIVE"}
# Wide enough to hold every amount that fits money, plus the digits money would drop
_EXACT_AMOUNT = T.DecimalType(38, 18)


@dataclass(frozen=True)
class ParsedPayload:
    """Column expressions over one row: the typed event, the text of each top-level
    field (arrays as raw JSON), and per array field its items as text."""

    event: Column
    text: Column
    items: dict[str, Column]


def text_schema(family: EventFamily) -> T.StructType:
    """Every top-level field as a string (arrays as their JSON text), plus the corrupt record."""
    fields = [T.StructField(f.name, T.StringType()) for f in merged_fields(family)]
    return T.StructType([*fields, T.StructField(CORRUPT_RECORD, T.StringType())])


def item_text_schema(field: Field) -> T.ArrayType:
    return T.ArrayType(T.StructType([T.StructField(c.name, T.StringType()) for c in field.items]))


def parse_typed(text: Column, family: EventFamily) -> Column:
    return F.from_json(text, read_schema(family), _TYPED_OPTIONS)


def parse_text(text: Column, family: EventFamily) -> Column:
    return F.from_json(text, text_schema(family), _TEXT_OPTIONS)


def parse_items(array_text: Column, field: Field) -> Column:
    return F.from_json(array_text, item_text_schema(field), _TEXT_OPTIONS)


def array_fields(family: EventFamily) -> tuple[Field, ...]:
    return tuple(f for f in merged_fields(family) if f.kind == "array")


def is_malformed(text_parse: Column) -> Column:
    """Not one JSON object: null for an empty payload, a corrupt record otherwise."""
    return text_parse.isNull() | text_parse[CORRUPT_RECORD].isNotNull()


def is_wrong_type(typed: Column, text: Column, field: Field) -> Column:
    """Present in the payload but not readable as the field's type (see module doc)."""
    if field.kind == "money":
        readable = typed == text.try_cast(_EXACT_AMOUNT)
    elif field.kind == "timestamp":
        readable = typed.isNotNull() & F.try_to_timestamp(text, F.lit(TIMESTAMP_FORMAT)).isNotNull()
    else:
        readable = typed.isNotNull()
    return text.isNotNull() & ~F.coalesce(readable, F.lit(False))


def has_wrong_type_item(values: Column, texts: Column, field: Field) -> Column:
    """Some item's field is present but not readable as its type.

    values: the typed field of every item (an array); texts: the same field as text.
    Written with whole-array functions, which run compiled; a lambda per item runs
    interpreted and cost several times more.
    """
    if field.kind in ("int", "long"):
        # a JSON integer's text is its canonical decimal form, so an item is readable
        # exactly when its typed value prints as its text (null items compare equal)
        return F.coalesce(values.cast(T.ArrayType(T.StringType())) != texts, F.lit(False))
    # a typed value implies a text: fewer typed than texts is a wrong type somewhere
    unreadable = non_null_count(texts) > non_null_count(values)
    if field.kind == "money":
        exact = T.ArrayType(_EXACT_AMOUNT)
        unreadable = unreadable | (values.cast(exact) != texts.try_cast(exact))
    elif field.kind == "timestamp":
        unreadable = unreadable | F.exists(texts, _unreadable_timestamp)
    return F.coalesce(unreadable, F.lit(False))


def _unreadable_timestamp(text: Column) -> Column:
    return text.isNotNull() & F.try_to_timestamp(text, F.lit(TIMESTAMP_FORMAT)).isNull()


def is_not_array(typed: Column, array_text: Column, items: Column) -> Column:
    """Present but no JSON array. The text parse gives nested JSON back re-serialised,
    so an array starts with "["; a string holding an array's JSON does too, but only
    the item parse reads it."""
    return array_text.isNotNull() & (
        ~array_text.startswith("[") | (typed.isNull() & items.isNotNull())
    )


def has_non_object_item(array_text: Column, items: Column) -> Column:
    """An array whose items are not all JSON objects (a null item included)."""
    return array_text.startswith("[") & (items.isNull() | has_null(items))


def has_null(values: Column) -> Column:
    # sorting puts nulls first, and runs compiled where a null-filter lambda would not
    return (F.size(values) > 0) & F.try_element_at(F.sort_array(values), F.lit(1)).isNull()


def may_hold_null(values: Column, sentinel: Column) -> Column:
    """Whether a non-empty array may hold a null item, in one compiled pass where
    `has_null` sorts: array_contains is null when the array holds a null and not the
    `sentinel`. An array that holds the sentinel counts too, so only for a check whose
    faults the rule chain looks at again (the fast check)."""
    return F.when(F.size(values) > 0, F.coalesce(F.array_contains(values, sentinel), F.lit(True)))


def sentinel(data_type: T.DataType) -> Column:
    """The smallest value of a numeric type, for `may_hold_null`: below the minimum of
    every bounded field (an item that holds it is only looked at twice)."""
    if isinstance(data_type, T.IntegerType):
        return F.lit(-(2**31)).cast(data_type)
    if isinstance(data_type, T.LongType):
        return F.lit(-(2**63)).cast(data_type)
    if isinstance(data_type, T.DecimalType):
        return F.lit(Decimal("-" + "9" * (data_type.precision - data_type.scale))).cast(data_type)
    raise TypeError(f"no sentinel for {data_type.simpleString()}")


def non_null_count(values: Column) -> Column:
    return F.size(F.array_compact(values))
