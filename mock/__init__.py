"""Runs the whole system on one machine without infrastructure: an embedded
Kafka-protocol broker, a local lake, and the demo that drives them."""
