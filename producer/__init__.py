"""The retail event producer: a seeded shop simulator publishing to Kafka.

Modules, one concept each: `catalog` (stores and products), `simulator` (the shop),
`serializer` (records to contract JSON), `faults` (duplicates, late, malformed ...),
`stream` (the outbound message stream), `kafka_publisher` (confluent-kafka loop),
`topics`, `reference_tables` and `run` (the whole thing behind `python -m producer`).
"""

from __future__ import annotations
