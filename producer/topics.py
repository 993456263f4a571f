"""Create the three event topics if they are not there yet."""

from __future__ import annotations

import logging
from typing import Any

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient, NewTopic

from retail_lakehouse.contracts import FAMILIES
from retail_lakehouse.logs import kv
from retail_lakehouse.settings import Settings

log = logging.getLogger(__name__)


class TopicSetupError(RuntimeError):
    """A topic could not be created; the message says which and why."""


def ensure_topics(settings: Settings, timeout_s: float = 30.0) -> list[str]:
    """Create the sales, clickstream and inventory topics; existing ones are left as they are."""
    names = [settings.topic(fam) for fam in FAMILIES]
    admin = AdminClient(dict[str, Any](settings.kafka_client_config()))
    new_topics = [
        NewTopic(
            name,
            num_partitions=settings.topic_partitions,
            replication_factor=settings.topic_replication_factor,
        )
        for name in names
    ]
    futures = admin.create_topics(new_topics, request_timeout=timeout_s)
    # `admin` stays referenced until every future has resolved: dropping the client
    # early fails the futures with _DESTROY
    for name, future in futures.items():
        try:
            future.result(timeout=timeout_s)
            log.info(kv("topic_created", topic=name, partitions=settings.topic_partitions))
        except KafkaException as exc:
            error = exc.args[0]
            if error.code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise TopicSetupError(
                    f"could not create topic {name!r}: {error.str()}; check "
                    "KAFKA_BOOTSTRAP_SERVERS and that this client may create topics"
                ) from exc
            log.info(kv("topic_exists", topic=name))
    del admin
    return names
