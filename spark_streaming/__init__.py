"""PySpark Structured Streaming jobs: Kafka -> bronze, silver and gold Delta tables."""
