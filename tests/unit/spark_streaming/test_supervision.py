"""A failed query is reported by family, in the one line that says what to do."""

from __future__ import annotations

import pytest

from retail_lakehouse.settings import Settings
from spark_streaming.supervision import StreamFailedError, exit_on_stream_failure, failure_reason

# the shape of Spark's error when a Python data source raises (issue 8's report)
SPARK_SOURCE_ERROR = """[PYTHON_STREAMING_DATA_SOURCE_RUNTIME_ERROR] Failed when Python streaming \
data source perform latestOffset: Traceback (most recent call last):
  File "/work/spark_streaming/kafka_source.py", line 431, in latestOffset
    return self._ride_out("latestOffset", lambda: self._latest_offset(start, limit))
  File "/work/spark_streaming/outage.py", line 76, in ride_out
    raise outage.too_long(during, waited, error) from error
spark_streaming.outage.OutageTooLongError: kafka at 127.0.0.1:9092 unreachable for 10s during \
latestOffset, longer than KAFKA_OUTAGE_TOLERANCE=8s (last error: KafkaError{code=_TIMED_OUT}). \
Check that it is up and reachable, then restart the job.
 SQLSTATE: 38000
=== Streaming Query ===
Identifier: sales_pipeline [id = 1, runId = 2]"""

PLAIN_PYTHON_ERROR = """An exception was raised by the Python Proxy. Return Message: Traceback:
  File "/work/spark_streaming/family_batch.py", line 90, in __call__
    self.writer.append(self.plan.bronze, bronze_rows, txn)
spark_streaming.delta_rs_writer.TableSchemaMismatch: the batch for bronze.x has columns the \
table lacks: ['y']; drop them in the transform
=== Streaming Query ==="""


def test_an_outage_is_reported_by_its_own_line() -> None:
    assert failure_reason(SPARK_SOURCE_ERROR) == (
        "kafka at 127.0.0.1:9092 unreachable for 10s during latestOffset, longer than "
        "KAFKA_OUTAGE_TOLERANCE=8s (last error: KafkaError{code=_TIMED_OUT}). "
        "Check that it is up and reachable, then restart the job."
    )


def test_another_python_error_is_reported_by_its_last_line() -> None:
    assert failure_reason(PLAIN_PYTHON_ERROR) == (
        "TableSchemaMismatch: the batch for bronze.x has columns the table lacks: ['y']; "
        "drop them in the transform"
    )


def test_a_jvm_error_is_reported_by_its_first_line() -> None:
    assert failure_reason(RuntimeError("disk quota exceeded\n\tat x.y")) == "disk quota exceeded"


def test_the_job_exits_with_code_1_and_one_line(capsys) -> None:
    def failing() -> None:
        raise StreamFailedError("sales", "kafka at b:9092 unreachable", ["clickstream"])

    with pytest.raises(SystemExit) as exited:
        exit_on_stream_failure(failing)
    assert exited.value.code == 1
    assert capsys.readouterr().err == (
        "ERROR: sales stream failed: kafka at b:9092 unreachable; "
        "stopped the other families too (clickstream)\n"
    )


# Spark's abort when a micro-batch's results exceed spark.driver.maxResultSize, inside
# the Python traceback of foreachBatch
RESULTS_TOO_BIG = """An exception was raised by the Python Proxy. Return Message: Traceback:
py4j.protocol.Py4JJavaError: An error occurred while calling o412.collectAsArrowToPython.
: org.apache.spark.SparkException: Job aborted due to stage failure: Total size of \
serialized results of 2 tasks (2.9 MiB) is bigger than spark.driver.maxResultSize (1024.0 KiB)
\tat org.apache.spark.scheduler.DAGScheduler.failJobAndIndependentStages(DAGScheduler.scala:2935)
=== Streaming Query ==="""


def test_a_batch_the_driver_refused_says_which_limit_to_raise() -> None:
    settings = Settings(max_offsets_per_trigger=5000, _env_file=None)  # type: ignore[call-arg]
    assert failure_reason(RESULTS_TOO_BIG, settings) == (
        "a micro-batch's results (2.9 MiB) are bigger than spark.driver.maxResultSize "
        "(1024.0 KiB), and nothing of it was committed: restart with a larger "
        "SPARK_MAX_RESULT_SIZE (and SPARK_DRIVER_MEMORY about 8 times it); "
        "MAX_OFFSETS_PER_TRIGGER (now 5000) bounds the batches after it"
    )
