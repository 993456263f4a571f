"""Starting and watching the pipeline in a test, as the job does."""

from __future__ import annotations

from collections import Counter

from spark_streaming.streams import RunningPipeline, start_pipeline


def start_all(spark, settings) -> RunningPipeline:
    return start_pipeline(spark, settings)


def caught_up(running: RunningPipeline, messages) -> bool:
    """The pipeline has committed as many records of each topic as `messages` hold."""
    sent = Counter(m.topic for m in messages)
    return all(running.records_read(topic) >= n for topic, n in sent.items())
