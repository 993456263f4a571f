"""The Spark half of a micro-batch: pure DataFrame -> DataFrame functions.

Kafka records in, each parsed and checked against its family's contracts
(`validation.validated_records`, with `payload` and `rules`). It runs on the
executors as one Spark job per batch; what follows works on its Arrow result in the
driver (`spark_streaming.batch`). Nothing here reads or writes a table.
"""

from __future__ import annotations

from spark_streaming.transforms.validation import ENVELOPE, validated_records

__all__ = ["ENVELOPE", "validated_records"]
