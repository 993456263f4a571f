"""The demo and the profiler report latency without each query's warm-up batch."""

from __future__ import annotations

from spark_streaming.batch_metrics import split_warmup


def _batch(query: str, batch_id: int, rows: int) -> dict:
    return {"query_name": query, "batch_id": batch_id, "input_rows": rows}


def test_the_first_batch_with_input_of_each_query_is_the_warm_up():
    batches = [
        _batch("sales", 0, 0),  # an empty first trigger is not the warm-up
        _batch("sales", 1, 500),
        _batch("sales", 2, 40),
        _batch("clicks", 0, 900),
        _batch("clicks", 1, 10),
        _batch("idle", 0, 0),
    ]

    warmup, steady = split_warmup(batches)

    assert warmup == [_batch("sales", 1, 500), _batch("clicks", 0, 900)]
    assert steady == [_batch("sales", 2, 40), _batch("clicks", 1, 10)]
