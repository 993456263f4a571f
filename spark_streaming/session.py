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
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config(
            "spark.sql.streaming.stateStore.providerClass",
            "org.apache.spark.sql.execution.streaming.state.RocksDBStateStoreProvider",
        )
        # foreachBatch has nothing to do in a batch without new records
        .config("spark.sql.streaming.noDataMicroBatches.enabled", "false")
        # PySpark otherwise records the Python call site of every DataFrame and function
        # call (several JVM round trips each): a second or more per micro-batch
        .config("spark.python.sql.dataFrameDebugging.enabled", "false")
    )
    # s3a settings matter only on clusters that write the lake through Spark (delta-spark)
    for key, value in s3a_options(settings).items():
        builder = builder.config(key, value)
    for key, value in cluster_options(settings, local=not launched_by_spark_submit()).items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("WARN")
    return session


LOCAL_SHUFFLE_PARTITIONS = 2


def cluster_options(settings: Settings, *, local: bool) -> dict[str, str]:
    """Settings a cluster sizes for itself. Local runs get small defaults (two cores,
    micro-batches of thousands of rows); under spark-submit only what the user set
    explicitly (SPARK_SHUFFLE_PARTITIONS, SPARK_UI_ENABLED) is passed on."""
    options: dict[str, str] = {}
    partitions = settings.spark_shuffle_partitions
    if partitions is None and local:
        partitions = LOCAL_SHUFFLE_PARTITIONS
    if partitions is not None:
        options["spark.sql.shuffle.partitions"] = str(partitions)
        if local:
            options["spark.default.parallelism"] = str(partitions)
    ui = settings.spark_ui_enabled
    if ui is None and local:
        ui = False
    if ui is not None:
        options["spark.ui.enabled"] = str(ui).lower()
    if local:
        options |= {
            # adaptive execution re-plans after every shuffle: on micro-batches of a few
            # thousand rows that is one extra Spark job per aggregation and no gain
            "spark.sql.adaptive.enabled": "false",
            # every micro-batch carries new timestamp literals (ingest time, watermark),
            # which Spark inlines into generated code, so each batch compiled its plans
            # afresh: 100 ms for validation alone. Interpreted evaluation measured 10 to
            # 35% faster per batch from 1,000 to 40,000 rows (README, Speed)
            "spark.sql.codegen.wholeStage": "false",
            "spark.sql.codegen.factoryMode": "NO_CODEGEN",
            "spark.master": settings.spark_master,
            "spark.driver.memory": settings.spark_driver_memory,
            "spark.ui.showConsoleProgress": "false",
        }
    return options


LOCAL_BATCH_PARTITIONS = 1


def batch_partitions(settings: Settings, *, local: bool) -> int | None:
    """How many partitions a micro-batch is coalesced to; None keeps the source's.

    Locally one: a batch of a few thousand rows costs Spark far more in stages and
    tasks than in rows, and with one partition no aggregation needs a shuffle stage
    (a sales batch measured about 18% faster, README, Speed). The families' queries
    run side by side, so both cores stay busy. A cluster keeps one task per Kafka
    partition unless SPARK_BATCH_PARTITIONS says otherwise."""
    partitions = settings.spark_batch_partitions
    if partitions is None:
        return LOCAL_BATCH_PARTITIONS if local else None
    return partitions or None


def launched_by_spark_submit() -> bool:
    """spark-submit starts the JVM first and hands Python its gateway port."""
    return "PYSPARK_GATEWAY_PORT" in os.environ
