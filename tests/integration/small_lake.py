"""A small real lake over several shop days, for the DAG and Airflow tests.

Seeded events (with duplicates, disorder and malformed records) go through the streaming
job's own batch function into Delta tables (mock/replay_lake.py says why not through the
streaming query's Kafka reader on this shared machine). The shop's traffic is scaled
down so a few thousand events span several simulated days.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from mock.replay_lake import replay_into_lake
from producer.faults import FaultConfig
from retail_lakehouse.settings import Settings

START = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
SEED = 23
EVENTS = 3_000
# 1/50 of the default shop's shoppers (stock counts stay hourly): 3,000 events cover
# about three and a half days
TRAFFIC_SCALE = 0.02
FAULTS = FaultConfig(duplicate_rate=0.02, out_of_order_rate=0.03, malformed_rate=0.02)


def build_small_lake(spark, root: Path, name: str) -> Settings:
    """Write the seeded events' lake under `root`; settings pointing at it."""
    settings = Settings(
        lake_root=str(root / "lake"),
        checkpoint_root=str(root / "checkpoints"),
        topic_sales=f"{name}.sales",
        topic_clickstream=f"{name}.clickstream",
        topic_inventory=f"{name}.inventory",
    )
    replayed = replay_into_lake(
        spark,
        settings,
        events=EVENTS,
        seed=SEED,
        start=START,
        traffic_scale=TRAFFIC_SCALE,
        faults=FAULTS,
        batch_size=1_500,
    )
    assert sum(replayed.values()) >= EVENTS
    return settings
