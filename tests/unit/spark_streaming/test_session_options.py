"""Local Spark defaults stay local; a cluster gets only what the user set."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from retail_lakehouse.settings import Settings
from spark_streaming.session import batch_partitions, cluster_options, local_cores


def test_local_runs_get_small_defaults() -> None:
    options = cluster_options(Settings(_env_file=None), local=True)

    assert options == {
        "spark.sql.shuffle.partitions": "2",
        "spark.databricks.delta.snapshotPartitions": "2",
        "spark.default.parallelism": "2",
        "spark.ui.enabled": "false",
        "spark.sql.adaptive.enabled": "false",
        "spark.master": "local[*]",
        "spark.driver.memory": "2g",
        "spark.driver.maxResultSize": "256m",
        "spark.driver.extraJavaOptions": "-XX:+ExitOnOutOfMemoryError",
        "spark.task.maxDirectResultSize": "128m",
        "spark.ui.showConsoleProgress": "false",
        "spark.hadoop.fs.AbstractFileSystem.file.impl": "org.apache.hadoop.fs.local.RawLocalFs",
    }


def test_code_generation_can_be_turned_off() -> None:
    options = cluster_options(Settings(_env_file=None, spark_codegen=False), local=True)

    assert options["spark.sql.codegen.wholeStage"] == "false"
    assert options["spark.sql.codegen.factoryMode"] == "NO_CODEGEN"
    off_on_a_cluster = cluster_options(Settings(_env_file=None, spark_codegen=False), local=False)
    assert off_on_a_cluster["spark.sql.codegen.wholeStage"] == "false"


def test_spark_submit_keeps_the_cluster_sizing_unless_asked() -> None:
    assert cluster_options(Settings(_env_file=None), local=False) == {}
    asked = Settings(
        _env_file=None,
        spark_shuffle_partitions=64,
        spark_ui_enabled=True,
        spark_max_result_size="4g",
    )
    assert cluster_options(asked, local=False) == {
        "spark.sql.shuffle.partitions": "64",
        "spark.databricks.delta.snapshotPartitions": "64",
        "spark.ui.enabled": "true",
        "spark.driver.maxResultSize": "4g",
    }


@pytest.mark.parametrize(
    ("driver_memory", "limit"),
    [("2g", "256m"), ("1g", "128m"), ("512m", "64m"), ("4096", "512m"), ("3G", "384m")],
)
def test_a_local_driver_takes_results_up_to_an_eighth_of_its_heap(
    driver_memory: str, limit: str
) -> None:
    options = cluster_options(
        Settings(_env_file=None, spark_driver_memory=driver_memory), local=True
    )
    assert options["spark.driver.maxResultSize"] == limit
    mine = Settings(_env_file=None, spark_driver_memory=driver_memory, spark_max_result_size="1g")
    assert cluster_options(mine, local=True)["spark.driver.maxResultSize"] == "1g"


def test_a_memory_setting_that_is_no_size_is_refused_with_its_name() -> None:
    with pytest.raises(ValidationError, match="spark_driver_memory"):
        Settings(_env_file=None, spark_driver_memory="lots")
    with pytest.raises(ValidationError, match="spark_max_result_size"):
        Settings(_env_file=None, spark_max_result_size="1 gigabyte")


@pytest.mark.parametrize(
    ("master", "cores"),
    [("local", 1), ("local[3]", 3), ("local[4,2]", 4), ("spark://m:7077", None), ("yarn", None)],
)
def test_local_cores_of_a_master(master: str, cores: int | None) -> None:
    assert local_cores(master) == cores


def test_a_local_batch_is_read_in_one_task_per_core() -> None:
    assert batch_partitions(Settings(_env_file=None, spark_master="local[3]"), local=True) == 3
    asked = Settings(_env_file=None, spark_master="local[3]", spark_batch_partitions=6)
    assert batch_partitions(asked, local=True) == 6


def test_spark_submit_reads_one_task_per_kafka_partition_unless_asked() -> None:
    assert batch_partitions(Settings(_env_file=None), local=False) is None
    asked = Settings(_env_file=None, spark_batch_partitions=24)
    assert batch_partitions(asked, local=False) == 24
