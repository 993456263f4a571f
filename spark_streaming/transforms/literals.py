"""Python values as Spark literals, with the time zone made explicit."""

from __future__ import annotations

from datetime import UTC, datetime

from pyspark.sql import Column
from pyspark.sql import functions as F


def as_utc(moment: datetime) -> datetime:
    """A naive datetime is taken as UTC: PySpark would otherwise read it in the
    driver's local zone, so the same batch could land on another date elsewhere."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def timestamp_literal(moment: datetime) -> Column:
    return F.lit(as_utc(moment)).cast("timestamp")


def utc_date_literal(moment: datetime) -> Column:
    return F.lit(as_utc(moment).date()).cast("date")
