"""Runs the whole system on one machine without infrastructure: a local Apache Kafka
broker, a local lake, and the demo that drives them."""
