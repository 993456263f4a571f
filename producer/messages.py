"""Kafka messages: which topic an event goes to, its key, and its bytes.

The key is the event family's key field (store_id for sales and inventory,
user_session for clickstream), so all events of one store or one web session
land on one partition and stay in order: a store's stock counts never overtake
its stock changes.
"""

from __future__ import annotations

from dataclasses import dataclass

from producer.records import Record
from producer.serializer import serialize
from retail_lakehouse.contracts import EventContract, contract_for, family
from retail_lakehouse.settings import Settings


@dataclass(frozen=True)
class OutboundMessage:
    """One message to produce. `event_id`/`event_type` are what the payload carries
    (None when a malformed payload has none); `fault` names an injected fault."""

    topic: str
    key: bytes
    value: bytes
    event_id: str | None
    event_type: str | None
    fault: str | None = None


@dataclass(frozen=True)
class Draft:
    """A clean event about to become a message, before any fault is injected."""

    contract: EventContract
    topic: str
    key: bytes
    record: Record

    @property
    def event_id(self) -> str:
        return str(self.record["event_id"])

    @property
    def event_type(self) -> str:
        return str(self.record["event_type"])


def message_key(contract: EventContract, record: Record) -> bytes:
    key_field = family(contract.family).key_field
    return str(record[key_field]).encode("utf-8")


def draft(settings: Settings, record: Record) -> Draft:
    contract = contract_for(str(record["event_type"]))
    return Draft(
        contract=contract,
        topic=settings.topic(family(contract.family)),
        key=message_key(contract, record),
        record=record,
    )


def clean_message(d: Draft, record: Record | None = None) -> OutboundMessage:
    """The draft (or an edited copy of its record) serialized against its contract."""
    record = d.record if record is None else record
    return OutboundMessage(
        topic=d.topic,
        key=d.key,
        value=serialize(d.contract, record),
        event_id=d.event_id,
        event_type=d.event_type,
    )
