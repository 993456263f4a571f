"""Spark types derived from the event contracts in `retail_lakehouse.contracts`."""

from __future__ import annotations

from pyspark.sql import types as T

from retail_lakehouse.contracts import (
    MONEY_PRECISION,
    MONEY_SCALE,
    EventFamily,
    Field,
    merged_fields,
)

MONEY = T.DecimalType(MONEY_PRECISION, MONEY_SCALE)

_SCALARS: dict[str, T.DataType] = {
    "string": T.StringType(),
    "int": T.IntegerType(),
    "long": T.LongType(),
    "money": MONEY,
    "timestamp": T.TimestampType(),
}


def spark_type(f: Field) -> T.DataType:
    if f.kind == "array":
        return T.ArrayType(T.StructType([struct_field(child) for child in f.items]))
    return _SCALARS[f.kind]


def struct_field(f: Field) -> T.StructField:
    return T.StructField(f.name, spark_type(f), nullable=True)


def read_schema(family: EventFamily) -> T.StructType:
    """The schema a topic's JSON payloads are parsed with: the union of its contracts.

    Every field is nullable here; required-ness is checked by validation so a missing
    field becomes a quarantine reason instead of a parse failure.
    """
    return T.StructType([struct_field(f) for f in merged_fields(family)])


KAFKA_SCHEMA = T.StructType(
    [
        T.StructField("key", T.BinaryType(), True),
        T.StructField("value", T.BinaryType(), True),
        T.StructField("topic", T.StringType(), True),
        T.StructField("partition", T.IntegerType(), True),
        T.StructField("offset", T.LongType(), True),
        T.StructField("timestamp", T.TimestampType(), True),
        T.StructField("timestampType", T.IntegerType(), True),
    ]
)
"""Output schema of Spark's built-in kafka source, which the Python source reproduces."""
