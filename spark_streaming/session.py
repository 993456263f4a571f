"""SparkSession construction shared by the jobs, the CLI and the tests."""

from __future__ import annotations

import os
import re
import subprocess
import sys

from pyspark.sql import SparkSession

from retail_lakehouse import jvm
from retail_lakehouse.settings import JVM_SIZE, Settings, is_remote
from spark_streaming.delta_spark_writer import s3a_options
from spark_streaming.lake_writer import DELTA_CATALOG, DELTA_EXTENSION


def build_session(
    settings: Settings, app_name: str = "retail-lakehouse", *, s3a: bool = False
) -> SparkSession:
    """A session for local runs or spark-submit; spark-submit's own --master, --jars
    and --conf win. `s3a` loads hadoop-aws although `settings` name no S3 path (a
    session that later reaches lakes on S3, as the tests' one does)."""
    # Python workers must run the interpreter that has the project's dependencies
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
    local = not launched_by_spark_submit()
    options = s3a_options(settings) | cluster_options(settings, local=local)
    if local:
        options |= local_jvm_options(s3a=s3a or needs_s3a(settings))
    for key, value in options.items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("WARN")
    return session


def needs_s3a(settings: Settings) -> bool:
    """Whether Spark itself reaches S3: the lake written by delta-spark, or checkpoints."""
    return is_remote(settings.resolved_lake_root) or is_remote(settings.resolved_checkpoint_root)


def local_jvm_options(*, s3a: bool) -> dict[str, str]:
    """What spark-submit's --jars and --conf give a cluster job, for a session started
    from Python: the jars `make install` fetched (Kafka connector, delta-spark, and
    hadoop-aws when `s3a`) and delta-spark's SQL extension and catalog."""
    return {
        "spark.jars": ",".join(jvm.spark_jars(s3a=s3a)),
        "spark.sql.extensions": DELTA_EXTENSION,
        "spark.sql.catalog.spark_catalog": DELTA_CATALOG,
    }


LOCAL_SHUFFLE_PARTITIONS = 2
DELTA_SNAPSHOT_PARTITIONS = "spark.databricks.delta.snapshotPartitions"
RAW_LOCAL_FS = "org.apache.hadoop.fs.local.RawLocalFs"
# Spark caps it at spark.rpc.message.maxSize, whose default this is
LOCAL_DIRECT_RESULT_SIZE = "128m"


def cluster_options(settings: Settings, *, local: bool) -> dict[str, str]:
    """Settings a cluster sizes for itself. Local runs get small defaults (two cores,
    micro-batches of thousands of rows); under spark-submit only what the user set
    explicitly (SPARK_SHUFFLE_PARTITIONS, SPARK_UI_ENABLED, SPARK_CODEGEN) is passed on.
    SPARK_SHUFFLE_PARTITIONS sizes delta-spark's log replay as well as the SQL shuffles."""
    options: dict[str, str] = {}
    partitions = settings.spark_shuffle_partitions
    if partitions is None and local:
        partitions = LOCAL_SHUFFLE_PARTITIONS
    if partitions is not None:
        options["spark.sql.shuffle.partitions"] = str(partitions)
        # delta-spark replays a changed table's log in a shuffle of its own (50 partitions
        # unless told): before every merge, so on two cores it took most of a batch
        options[DELTA_SNAPSHOT_PARTITIONS] = str(partitions)
        if local:
            options["spark.default.parallelism"] = str(partitions)
    ui = settings.spark_ui_enabled
    if ui is None and local:
        ui = False
    if ui is not None:
        options["spark.ui.enabled"] = str(ui).lower()
    result_size = settings.spark_max_result_size
    if result_size is None and local:
        result_size = max_result_size(settings.spark_driver_memory)
    if result_size is not None:
        options["spark.driver.maxResultSize"] = result_size
    if not settings.spark_codegen:
        options["spark.sql.codegen.wholeStage"] = "false"
        options["spark.sql.codegen.factoryMode"] = "NO_CODEGEN"
    if local:
        options |= {
            # adaptive execution re-plans after every shuffle: on micro-batches of a few
            # thousand rows that is one extra Spark job per aggregation and no gain
            "spark.sql.adaptive.enabled": "false",
            "spark.master": settings.spark_master,
            "spark.driver.memory": settings.spark_driver_memory,
            # a driver out of heap leaves Spark waiting for a result that never comes
            # (a task-result thread dies); ending the process lets a supervisor see it
            "spark.driver.extraJavaOptions": "-XX:+ExitOnOutOfMemoryError",
            # a task's results up to this size travel inside its status message; above
            # Spark's 1 MiB default they were stored as a block and fetched back over the
            # network stack, in one process: 8 to 15% of a catch-up batch's job
            "spark.task.maxDirectResultSize": LOCAL_DIRECT_RESULT_SIZE,
            "spark.ui.showConsoleProgress": "false",
            # the checkpoint's offset and commit logs, written every trigger, without
            # Hadoop's .crc side files: half their time (about 50 ms a trigger); each
            # entry is still written to a temporary file and renamed into place
            "spark.hadoop.fs.AbstractFileSystem.file.impl": RAW_LOCAL_FS,
        }
    return options


_MB_PER_UNIT = {"k": 1 / 1024, "": 1, "m": 1, "g": 1024, "t": 1024 * 1024}


def max_result_size(driver_memory: str) -> str:
    """An eighth of the driver's heap. The driver holds a batch's results about four
    times over while it collects them (500,000 records, 470 MB as Arrow, ran a 2 GB heap
    out), so this limit stops a batch well before the heap would."""
    found = re.fullmatch(JVM_SIZE, driver_memory.strip())
    if found is None:
        raise ValueError(f"SPARK_DRIVER_MEMORY={driver_memory!r} is not a size like 2g or 512m")
    megabytes = int(found.group(1)) * _MB_PER_UNIT[found.group(2).lower()]
    return f"{max(1, int(megabytes / 8))}m"


def batch_partitions(settings: Settings, *, local: bool) -> int | None:
    """How many tasks read and validate a micro-batch; None leaves Spark's one task per
    Kafka partition (or per `minPartitions` split). Each task has a fixed cost (about
    30 ms of CPU here: launch, deserialising the validation plan, its Kafka consumer),
    so a local run merges the batch into one task per core: at 1,000 events/s the
    batch's job took 365 ms in 2 tasks against 734 ms in 9 (docs/performance.md)."""
    if settings.spark_batch_partitions is not None or not local:
        return settings.spark_batch_partitions
    return local_cores(settings.spark_master)


def local_cores(master: str) -> int | None:
    """The cores of a `local`, `local[N]`, `local[*]` or `local[N,F]` master."""
    found = re.fullmatch(r"local(?:\[(\*|\d+)(?:,\d+)?\])?", master.strip())
    if found is None:
        return None
    cores = found.group(1)
    if cores is None:
        return 1
    return (os.cpu_count() or 1) if cores == "*" else int(cores)


def launched_by_spark_submit() -> bool:
    """spark-submit starts the JVM first and hands Python its gateway port."""
    return "PYSPARK_GATEWAY_PORT" in os.environ


def stop_session(spark: SparkSession, *, timeout_s: float = 60.0) -> None:
    """Stop Spark and, when this process started its JVM, end that JVM as well.

    `spark.stop()` leaves the JVM PySpark launched running, with its heap (up to
    SPARK_DRIVER_MEMORY), until Python exits: the demo's warehouse half ran beside 2 GB
    of idle JVM. Under spark-submit the JVM is the parent and ends on its own."""
    from pyspark import SparkContext

    spark.stop()
    gateway = SparkContext._gateway
    process = getattr(gateway, "proc", None)
    if gateway is None or process is None:
        return
    gateway.shutdown()
    # PythonGatewayServer exits when its stdin reaches EOF
    if process.stdin is not None:
        process.stdin.close()
    try:
        process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    # a later build_session() in this process launches a new JVM
    SparkContext._gateway = None
    SparkContext._jvm = None
