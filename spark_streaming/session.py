"""SparkSession construction shared by the jobs, the CLI and the tests."""

from __future__ import annotations

import os
import sys

from pyspark.sql import SparkSession

from retail_lakehouse.settings import Settings
from spark_streaming.delta_spark_writer import s3a_options


def build_session(settings: Settings, app_name: str = "retail-lakehouse") -> SparkSession:
    """A session for local runs or spark-submit; spark-submit's own --master wins."""
    # Python workers must run the interpreter that has pyarrow and confluent-kafka
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    builder = (
        SparkSession.builder.appName(app_name)
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.shuffle.partitions", "4")
        .config("spark.default.parallelism", "4")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config(
            "spark.sql.streaming.stateStore.providerClass",
            "org.apache.spark.sql.execution.streaming.state.RocksDBStateStoreProvider",
        )
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
    )
    # s3a settings matter only on clusters that write the lake through Spark (delta-spark)
    for key, value in s3a_options(settings).items():
        builder = builder.config(key, value)
    if not launched_by_spark_submit():
        builder = builder.master(settings.spark_master).config(
            "spark.driver.memory", settings.spark_driver_memory
        )
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("WARN")
    return session


def launched_by_spark_submit() -> bool:
    """spark-submit starts the JVM first and hands Python its gateway port."""
    return "PYSPARK_GATEWAY_PORT" in os.environ
