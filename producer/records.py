"""Event records as plain dicts whose keys are exactly the contract's fields.

Each builder starts from the contract's own field list, so a field added to
`retail_lakehouse.contracts` shows up here as a None until it is filled in, and
a misspelled field fails at once instead of travelling to Kafka.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from producer.catalog import Product
from retail_lakehouse.contracts import (
    CLICK,
    INVENTORY_CHANGE,
    INVENTORY_SNAPSHOT,
    SALE,
    EventContract,
)

Record = dict[str, object]


@dataclass(frozen=True)
class SaleLine:
    product_id: int
    quantity: int
    unit_price: Decimal
    discount: Decimal


@dataclass(frozen=True)
class Envelope:
    event_id: str
    event_time: datetime


def contract_record(contract: EventContract, **values: object) -> Record:
    """A record with every contract field; the ones not given stay None."""
    record: Record = dict.fromkeys(contract.field_names)
    unknown = sorted(set(values) - set(record))
    if unknown:
        raise KeyError(f"{contract.event_type} has no field(s) {unknown}")
    record.update(values)
    return record


def _items(contract: EventContract, array: str, rows: list[dict[str, object]]) -> list[Record]:
    """Array items in the contract's shape. Each builder below makes all its rows
    from one literal dict, so checking the first row checks them all; stock counts
    carry hundreds of rows and this runs for every one of them."""
    names = [f.name for f in contract.field(array).items]
    if rows and list(rows[0]) != names:
        raise KeyError(f"{contract.event_type}.{array} items need exactly {names}, in order")
    return rows


def sale(
    envelope: Envelope,
    *,
    transaction_id: str,
    store_id: int,
    channel: str,
    customer_id: int | None,
    payment_type: str,
    lines: Sequence[SaleLine],
) -> Record:
    rows = [
        {
            "line_number": number,
            "product_id": line.product_id,
            "quantity": line.quantity,
            "unit_price": line.unit_price,
            "discount": line.discount,
        }
        for number, line in enumerate(lines, start=1)
    ]
    return contract_record(
        SALE,
        event_id=envelope.event_id,
        event_type="sale",
        event_time=envelope.event_time,
        transaction_id=transaction_id,
        store_id=store_id,
        channel=channel,
        customer_id=customer_id,
        payment_type=payment_type,
        lines=_items(SALE, "lines", rows),
    )


def click(
    envelope: Envelope, *, event_type: str, product: Product, user_id: int, user_session: str
) -> Record:
    return contract_record(
        CLICK,
        event_id=envelope.event_id,
        event_type=event_type,
        event_time=envelope.event_time,
        product_id=product.product_id,
        category_id=product.category_id,
        category_code=product.category_code,
        brand=product.brand,
        price=product.list_price,
        user_id=user_id,
        user_session=user_session,
    )


def inventory_change(
    envelope: Envelope,
    *,
    trans_id: str,
    store_id: int,
    change_type: str,
    items: Sequence[tuple[int, int]],
) -> Record:
    """`items` are (product_id, signed quantity) pairs."""
    rows: list[Record] = [{"product_id": pid, "quantity": qty} for pid, qty in items]
    return contract_record(
        INVENTORY_CHANGE,
        event_id=envelope.event_id,
        event_type="inventory_change",
        event_time=envelope.event_time,
        trans_id=trans_id,
        store_id=store_id,
        change_type=change_type,
        items=_items(INVENTORY_CHANGE, "items", rows),
    )


def inventory_snapshot(
    envelope: Envelope, *, store_id: int, items: Sequence[tuple[int, int]]
) -> Record:
    """`items` are (product_id, on-hand quantity) pairs for every product of the store."""
    rows: list[Record] = [{"product_id": pid, "quantity": qty} for pid, qty in items]
    return contract_record(
        INVENTORY_SNAPSHOT,
        event_id=envelope.event_id,
        event_type="inventory_snapshot",
        event_time=envelope.event_time,
        store_id=store_id,
        items=_items(INVENTORY_SNAPSHOT, "items", rows),
    )
