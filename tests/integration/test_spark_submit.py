"""`spark-submit` for real: the README's "Running on a cluster" command, submitted to a
local standalone cluster (executors in their own JVMs), reading the local Kafka broker
with Spark's connector and writing the lake and the checkpoint to an S3 server through
delta-spark and s3a://. Every table must equal expectations computed independently
from the messages sent."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections import Counter
from datetime import timedelta
from pathlib import Path

import boto3
import pytest
from lakehouse_expectations import (
    assert_table_equals,
    clicks_table,
    expected_quarantine,
    expected_sales_lines,
    gold_funnel,
    gold_inventory_levels,
    gold_sales_by_product,
    gold_sales_by_store,
    inventory_tables,
    read_table,
    sales_lines_table,
    unique_valid_events,
    wait_until,
)
from moto.server import ThreadedMotoServer
from standalone_spark import StandaloneSpark

from mock.kafka_broker import LocalKafka, free_port
from producer.catalog import build_catalog
from producer.clock import RealtimeClock
from producer.faults import FaultConfig
from producer.kafka_publisher import KafkaPublisher, producer_config
from producer.reference_tables import write_reference_tables
from producer.stream import generate_messages
from producer.topics import ensure_topics
from retail_lakehouse import tables
from retail_lakehouse.settings import Settings

pytestmark = pytest.mark.integration

PROJECT = Path(__file__).resolve().parents[2]
BUCKET = "submitted-lake"


def readme_command() -> str:
    """The spark-submit block of the README, exactly as a user copies it."""
    readme = (PROJECT / "README.md").read_text()
    block = re.search(
        r"<!-- spark-submit:begin -->\s*```bash\n(.*?)```\s*<!-- spark-submit:end -->",
        readme,
        re.DOTALL,
    )
    assert block, "README.md lost its spark-submit block"
    return block.group(1)


def test_the_readme_spark_submit_command_runs_the_pipeline_on_a_cluster(spark, tmp_path):
    s3_port = free_port()
    s3 = ThreadedMotoServer(ip_address="127.0.0.1", port=s3_port, verbose=False)
    s3.start()
    endpoint = f"http://127.0.0.1:{s3_port}"
    credentials = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
    boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", **credentials).create_bucket(
        Bucket=BUCKET
    )
    try:
        with LocalKafka() as broker, StandaloneSpark(tmp_path / "spark") as cluster:
            settings = Settings(
                kafka_bootstrap_servers=broker.bootstrap_servers,
                lake_root=f"s3://{BUCKET}/lake",
                checkpoint_root=f"s3a://{BUCKET}/checkpoints",
                aws_endpoint_url=endpoint,
                aws_allow_http=True,
                topic_sales="submit.sales",
                topic_clickstream="submit.clickstream",
                topic_inventory="submit.inventory",
                **credentials,
            )
            first = publish(settings, seed=17, late=False)
            env = {
                **os.environ,
                "SPARK_MASTER_URL": cluster.master_url,
                "KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap_servers,
                "LAKE_ROOT": settings.lake_root,
                "CHECKPOINT_ROOT": settings.checkpoint_root or "",
                "AWS_ENDPOINT_URL": endpoint,
                "AWS_ACCESS_KEY_ID": "testing",
                "AWS_SECRET_ACCESS_KEY": "testing",
                "AWS_ALLOW_HTTP": "true",
                "TOPIC_SALES": settings.topic_sales,
                "TOPIC_CLICKSTREAM": settings.topic_clickstream,
                "TOPIC_INVENTORY": settings.topic_inventory,
                # several micro-batches, as a stream that has a backlog reads them: two
                # for each of the two sends (each batch costs the cluster half a minute)
                "MAX_OFFSETS_PER_TRIGGER": "800",
                # a two-core cluster sizes its shuffles (and delta-spark's log replay) as
                # docs/deploying.md says; Spark's 200 and Delta's 50 tasks are for big ones
                "SPARK_SHUFFLE_PARTITIONS": "2",
                "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
                "PYSPARK_PYTHON": sys.executable,
            }
            env.pop("PYSPARK_GATEWAY_PORT", None)
            # the README's command as it is, then run until the backlog is done
            script = readme_command().rstrip().rstrip("\\") + " --until-idle 20\n"
            with open(tmp_path / "submit.log", "w") as out:
                job = subprocess.Popen(
                    ["bash", "-euo", "pipefail", "-c", script],
                    cwd=PROJECT,
                    env=env,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    text=True,
                )
                try:
                    # late events count as late once a watermark exists: the first
                    # events set it, then events 10 minutes behind it arrive
                    wait_until(lambda: bronze_rows(settings) >= len(first), 900, "first events")
                    second = publish(settings, seed=18, late=True)
                    code = job.wait(timeout=900)
                finally:
                    if job.poll() is None:
                        job.kill()
            sent = first + second
            log = (tmp_path / "submit.log").read_text()
            assert code == 0, log[-4000:]
            # the job ran on the cluster's executors, not in a local master
            assert f"Connected to Spark cluster at {cluster.master_url}" in log or (
                "StandaloneSchedulerBackend" in log
            ), log[-3000:]
            assert "event=pipeline_starting" in log and "writer=delta-spark" in log
            assert cluster.executor_log(), "no executor ever ran"
        assert_lake_equals_expectations(spark, settings, sent)
    finally:
        s3.stop()


def publish(settings: Settings, *, seed: int, late: bool) -> list:
    ensure_topics(settings)
    catalog = build_catalog(17)
    write_reference_tables(settings, catalog)
    faults = FaultConfig(
        duplicate_rate=0.04,
        out_of_order_rate=0.05,
        late_rate=0.03 if late else 0.0,
        late_by=timedelta(minutes=10),
        malformed_rate=0.03,
    )
    sent = list(
        generate_messages(
            settings, seed=seed, events=1500, faults=faults, clock=RealtimeClock(), catalog=catalog
        )
    )
    assert KafkaPublisher(producer_config(settings)).publish(sent).failed == 0
    return sent


def bronze_rows(settings: Settings) -> int:
    total = 0
    for spec in (tables.BRONZE_SALES, tables.BRONZE_CLICKSTREAM, tables.BRONZE_INVENTORY):
        try:
            total += read_table(settings, spec).num_rows
        except Exception:  # not created yet
            return 0
    return total


def assert_lake_equals_expectations(spark, settings: Settings, sent: list) -> None:
    late_ids = {m.event_id for m in sent if m.fault == "late"}
    valid = unique_valid_events(sent)
    for spec, topic in (
        (tables.BRONZE_SALES, settings.topic_sales),
        (tables.BRONZE_CLICKSTREAM, settings.topic_clickstream),
        (tables.BRONZE_INVENTORY, settings.topic_inventory),
    ):
        stored = read_table(settings, spec)["value"].to_pylist()
        assert Counter(stored) == Counter(m.value for m in sent if m.topic == topic)
    quarantined = read_table(settings, tables.QUARANTINE).select(["topic", "raw_payload", "reason"])
    assert Counter(
        zip(*(quarantined[c].to_pylist() for c in quarantined.column_names), strict=True)
    ) == (expected_quarantine(sent))
    lines = sales_lines_table(expected_sales_lines(valid, late_ids))
    clicks = clicks_table(valid, late_ids)
    changes, counts = inventory_tables(valid)
    products = read_table(settings, tables.PRODUCTS).select(["product_id", "safety_stock"])
    for spec, expected in (
        (tables.SILVER_SALES_LINES, lines),
        (tables.SALES_BY_PRODUCT_MINUTE, gold_sales_by_product(lines)),
        (tables.SALES_BY_STORE_MINUTE, gold_sales_by_store(lines)),
        (tables.SILVER_CLICKSTREAM, clicks),
        (tables.FUNNEL_BY_PRODUCT_MINUTE, gold_funnel(clicks)),
        (tables.SILVER_INVENTORY_CHANGES, changes),
        (tables.SILVER_INVENTORY_SNAPSHOTS, counts),
        (tables.INVENTORY_LEVELS, gold_inventory_levels(changes, counts, products)),
    ):
        assert expected.num_rows > 0, spec
        assert_table_equals(spark, settings, spec, expected)
    batches = read_table(settings, tables.STREAM_BATCHES)
    assert len(set(batches["batch_id"].to_pylist())) > 1, "expected several micro-batches"
