from __future__ import annotations

import os
import sys
from collections.abc import Iterator

import pytest
from pyspark.sql import SparkSession

from retail_lakehouse.settings import Settings
from spark_streaming.session import build_session

os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)


@pytest.fixture(scope="session")
def spark() -> Iterator[SparkSession]:
    # the pipeline's own local session (two shuffle partitions, delta-spark's log
    # replay on two rather than 50, no call-site capture, ...), with hadoop-aws loaded
    # for the tests whose lakes are on S3
    settings = Settings(spark_master="local[2]", spark_driver_memory="2g")
    session = build_session(settings, "retail-lakehouse-tests", s3a=True)
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()
