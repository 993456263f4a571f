"""Local Spark defaults stay local; a cluster gets only what the user set."""

from __future__ import annotations

from retail_lakehouse.settings import Settings
from spark_streaming.session import cluster_options


def test_local_runs_get_small_defaults() -> None:
    options = cluster_options(Settings(_env_file=None), local=True)

    assert options == {
        "spark.sql.shuffle.partitions": "2",
        "spark.default.parallelism": "2",
        "spark.ui.enabled": "false",
        "spark.sql.adaptive.enabled": "false",
        "spark.master": "local[*]",
        "spark.driver.memory": "2g",
        "spark.ui.showConsoleProgress": "false",
    }


def test_code_generation_can_be_turned_off() -> None:
    options = cluster_options(Settings(_env_file=None, spark_codegen=False), local=True)

    assert options["spark.sql.codegen.wholeStage"] == "false"
    assert options["spark.sql.codegen.factoryMode"] == "NO_CODEGEN"
    off_on_a_cluster = cluster_options(Settings(_env_file=None, spark_codegen=False), local=False)
    assert off_on_a_cluster["spark.sql.codegen.wholeStage"] == "false"


def test_spark_submit_keeps_the_cluster_sizing_unless_asked() -> None:
    assert cluster_options(Settings(_env_file=None), local=False) == {}
    asked = Settings(_env_file=None, spark_shuffle_partitions=64, spark_ui_enabled=True)
    assert cluster_options(asked, local=False) == {
        "spark.sql.shuffle.partitions": "64",
        "spark.ui.enabled": "true",
    }
