"""Event contracts: each event's fields are declared once, here.

The producer's serializer, the Spark read schemas, the validation rules and the
silver column lists are all derived from these declarations.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

FieldKind = Literal["string", "int", "long", "money", "timestamp", "array"]

# Money travels as a JSON number and is read as an exact decimal, so revenue sums
# never drift and tests can compare them exactly.
MONEY_PRECISION = 12
MONEY_SCALE = 2

# ISO-8601 UTC with milliseconds, e.g. 2026-03-02T09:15:04.123Z
TIMESTAMP_FORMAT = "yyyy-MM-dd'T'HH:mm:ss.SSSXXX"


@dataclass(frozen=True)
class Field:
    """One field of an event: its type, whether it is required, and its sane range."""

    name: str
    kind: FieldKind
    required: bool = True
    minimum: float | None = None
    maximum: float | None = None
    allowed: tuple[str, ...] | None = None
    items: tuple[Field, ...] = ()
    description: str = ""


@dataclass(frozen=True)
class EventContract:
    """The shape of one event type on one topic."""

    event_type: str
    family: str
    fields: tuple[Field, ...]
    description: str = ""

    @property
    def field_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields)

    def field(self, name: str) -> Field:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(f"{self.event_type} has no field {name!r}")


@dataclass(frozen=True)
class EventFamily:
    """A topic's worth of events: one or more event types sharing a key and a topic."""

    name: str
    topic_setting: str
    key_field: str
    contracts: tuple[EventContract, ...] = field(default_factory=tuple)

    @property
    def event_types(self) -> tuple[str, ...]:
        return tuple(c.event_type for c in self.contracts)

    def contract(self, event_type: str) -> EventContract:
        """The contract whose event_type field admits this value."""
        for c in self.contracts:
            if event_type in (c.field("event_type").allowed or ()):
                return c
        raise KeyError(f"family {self.name!r} has no event type {event_type!r}")


def _envelope(event_types: tuple[str, ...]) -> tuple[Field, ...]:
    return (
        Field("event_id", "string", description="Unique id of this event; a resend repeats it."),
        Field("event_type", "string", allowed=event_types),
        Field("event_time", "timestamp", description="When it happened (event time)."),
        Field("produced_at", "timestamp", description="When the producer sent it (wall clock)."),
    )


SALE = EventContract(
    event_type="sale",
    family="sales",
    description="A paid basket at a till, online, or for buy-online-pick-up-in-store.",
    fields=(
        *_envelope(("sale",)),
        Field("transaction_id", "string"),
        Field("store_id", "int", minimum=1, maximum=9_999),
        Field("channel", "string", allowed=("store", "online", "bopis")),
        Field("customer_id", "long", required=False, minimum=1),
        Field("payment_type", "string", allowed=("card", "cash", "mobile_wallet", "gift_card")),
        Field(
            "lines",
            "array",
            items=(
                Field("line_number", "int", minimum=1, maximum=500),
                Field("product_id", "long", minimum=1),
                Field("quantity", "int", minimum=1, maximum=100),
                Field("unit_price", "money", minimum=0.01, maximum=100_000),
                Field("discount", "money", minimum=0, maximum=100_000),
            ),
        ),
    ),
)

CLICKSTREAM_EVENT_TYPES = ("view", "cart", "remove_from_cart", "purchase")

CLICK = EventContract(
    event_type="clickstream",
    family="clickstream",
    description="One e-commerce interaction, in the shape of the public REES46 dataset.",
    fields=(
        *_envelope(CLICKSTREAM_EVENT_TYPES),
        Field("product_id", "long", minimum=1),
        Field("category_id", "long", minimum=1),
        Field("category_code", "string", required=False),
        Field("brand", "string", required=False),
        Field("price", "money", minimum=0, maximum=100_000),
        Field("user_id", "long", minimum=1),
        Field("user_session", "string"),
    ),
)

INVENTORY_CHANGE_TYPES = ("sale", "shrink", "restock", "bopis")

INVENTORY_CHANGE = EventContract(
    event_type="inventory_change",
    family="inventory",
    description="A change to stock on hand (Databricks POS accelerator shape); "
    "quantity is signed: negative for sale, shrink and bopis, positive for restock.",
    fields=(
        *_envelope(("inventory_change",)),
        Field("trans_id", "string"),
        Field("store_id", "int", minimum=1, maximum=9_999),
        Field("change_type", "string", allowed=INVENTORY_CHANGE_TYPES),
        Field(
            "items",
            "array",
            items=(
                Field("product_id", "long", minimum=1),
                Field("quantity", "int", minimum=-10_000, maximum=10_000),
            ),
        ),
    ),
)

INVENTORY_SNAPSHOT = EventContract(
    event_type="inventory_snapshot",
    family="inventory",
    description="A periodic stock count of a store: absolute on-hand quantity per product.",
    fields=(
        *_envelope(("inventory_snapshot",)),
        Field("store_id", "int", minimum=1, maximum=9_999),
        Field(
            "items",
            "array",
            items=(
                Field("product_id", "long", minimum=1),
                Field("quantity", "int", minimum=0, maximum=1_000_000),
            ),
        ),
    ),
)

SALES = EventFamily("sales", "topic_sales", key_field="store_id", contracts=(SALE,))
CLICKSTREAM = EventFamily(
    "clickstream", "topic_clickstream", key_field="user_session", contracts=(CLICK,)
)
INVENTORY = EventFamily(
    "inventory",
    "topic_inventory",
    key_field="store_id",
    contracts=(INVENTORY_CHANGE, INVENTORY_SNAPSHOT),
)

FAMILIES: tuple[EventFamily, ...] = (SALES, CLICKSTREAM, INVENTORY)


def family(name: str) -> EventFamily:
    for fam in FAMILIES:
        if fam.name == name:
            return fam
    raise KeyError(f"unknown event family {name!r}; expected one of {[f.name for f in FAMILIES]}")


def contract_for(event_type: str) -> EventContract:
    """The contract of an event type; clickstream's four types share one contract."""
    for fam in FAMILIES:
        try:
            return fam.contract(event_type)
        except KeyError:
            continue
    raise KeyError(f"unknown event type {event_type!r}")


def event_types(fam: EventFamily) -> tuple[str, ...]:
    """Values the event_type field may take on a family's topic."""
    allowed: list[str] = []
    for c in fam.contracts:
        allowed.extend(c.field("event_type").allowed or ())
    return tuple(allowed)


def merged_fields(fam: EventFamily) -> tuple[Field, ...]:
    """Union of a family's fields by name, in declaration order, for one read schema per topic."""
    seen: dict[str, Field] = {}
    for c in fam.contracts:
        for f in c.fields:
            if f.name in seen and seen[f.name].kind != f.kind:
                raise TypeError(f"{fam.name}: field {f.name!r} has two kinds")
            seen.setdefault(f.name, f)
    return tuple(seen.values())
