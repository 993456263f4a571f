"""Starting every family's stream in a test, as the job does."""

from __future__ import annotations

from spark_streaming.streams import start_streams


def start_all(spark, settings) -> list:
    return start_streams(spark, settings)
