"""The driver half of a micro-batch: pure functions over the Arrow table that the one
Spark job of the batch (`spark_streaming.transforms.validated_records`) returns.

records (bronze rows, quarantine rows, valid events per family) -> dedup (an index of
the event ids inside the watermark) -> silver (flattened business rows) -> gold (the
batch's contribution to each minute window, and inventory levels). `processor` runs
them for every micro-batch and commits the tables; nothing else here does I/O.
"""
