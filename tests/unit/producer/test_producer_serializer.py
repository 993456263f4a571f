from __future__ import annotations

import itertools
import json
import re
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from producer.catalog import build_catalog
from producer.clock import SimulatedClock
from producer.serializer import ContractViolation, deserialize, serialize
from producer.simulator import ShopSimulator
from retail_lakehouse.contracts import CLICK, INVENTORY_SNAPSHOT, SALE, contract_for

PRODUCED_AT = datetime(2026, 3, 2, 9, 0, 0, 250_000, tzinfo=UTC)


def a_sale(**overrides):
    record = {
        "event_id": "e-1",
        "event_type": "sale",
        "event_time": datetime(2026, 3, 2, 8, 15, 4, 123_000, tzinfo=UTC),
        "produced_at": PRODUCED_AT,
        "transaction_id": "POS-0003-00000001",
        "store_id": 3,
        "channel": "store",
        "customer_id": None,
        "payment_type": "cash",
        "lines": [
            {"line_number": 1, "product_id": 1004856, "quantity": 2,
             "unit_price": Decimal("12.5"), "discount": Decimal("0")},
        ],
    }  # fmt: skip
    record.update(overrides)
    return record


def test_a_sale_is_written_in_the_wire_format() -> None:
    assert serialize(SALE, a_sale()) == (
        b'{"event_id":"e-1","event_type":"sale","event_time":"2026-03-02T08:15:04.123Z",'
        b'"produced_at":"2026-03-02T09:00:00.250Z","transaction_id":"POS-0003-00000001",'
        b'"store_id":3,"channel":"store","customer_id":null,"payment_type":"cash",'
        b'"lines":[{"line_number":1,"product_id":1004856,"quantity":2,'
        b'"unit_price":12.50,"discount":0.00}]}'
    )


def test_timestamps_are_converted_to_utc() -> None:
    plus_two = timezone(timedelta(hours=2))
    payload = serialize(SALE, a_sale(event_time=datetime(2026, 3, 2, 10, 0, tzinfo=plus_two)))
    assert b'"event_time":"2026-03-02T08:00:00.000Z"' in payload


def test_text_is_utf8_not_escaped() -> None:
    record = {
        "event_id": "e-2", "event_type": "view",
        "event_time": PRODUCED_AT, "produced_at": PRODUCED_AT,
        "product_id": 1, "category_id": 2, "category_code": None, "brand": "Nestlé",
        "price": Decimal("1.005"), "user_id": 5, "user_session": "s",
    }  # fmt: skip
    payload = serialize(CLICK, record)
    assert '"brand":"Nestlé"'.encode() in payload
    assert b'"category_code":null' in payload
    assert b'"price":1.01' in payload  # rounded half-up to the cent


@pytest.fixture(scope="module")
def generated():
    sim = ShopSimulator(build_catalog(2), 2, SimulatedClock())
    return [dict(r, produced_at=PRODUCED_AT) for r in itertools.islice(sim, 3000)]


def test_every_generated_record_serializes_and_round_trips(generated) -> None:
    assert {r["event_type"] for r in generated} >= {"sale", "view", "inventory_change",
                                                     "inventory_snapshot"}  # fmt: skip
    for record in generated:
        contract = contract_for(record["event_type"])
        payload = serialize(contract, record)
        assert deserialize(contract, payload) == record
        parsed = json.loads(payload)
        assert list(parsed) == list(contract.field_names)
        assert b": " not in payload and b", " not in payload


def test_money_always_has_two_decimals(generated) -> None:
    money = re.compile(rb'"(?:unit_price|discount|price)":(-?\d+(?:\.\d+)?)')
    found = 0
    for record in generated:
        for value in money.findall(serialize(contract_for(record["event_type"]), record)):
            assert re.fullmatch(rb"\d+\.\d\d", value), value
            found += 1
    assert found > 1000


def test_missing_required_field_names_the_field() -> None:
    record = a_sale()
    del record["store_id"]
    with pytest.raises(ContractViolation, match=r"sale\.store_id: required") as caught:
        serialize(SALE, record)
    assert caught.value.field == "store_id"


def test_unstamped_produced_at_is_a_violation() -> None:
    with pytest.raises(ContractViolation) as caught:
        serialize(SALE, a_sale(produced_at=None))
    assert caught.value.field == "produced_at"


def test_unknown_field_names_the_field() -> None:
    with pytest.raises(ContractViolation, match="unknown field") as caught:
        serialize(SALE, a_sale(store_name="Downtown"))
    assert caught.value.field == "store_name"


def test_missing_field_inside_an_array_item() -> None:
    record = a_sale()
    del record["lines"][0]["quantity"]
    with pytest.raises(ContractViolation) as caught:
        serialize(SALE, record)
    assert caught.value.field == "lines[0].quantity"


def test_unknown_field_inside_an_integer_only_item() -> None:
    record = {
        "event_id": "e", "event_type": "inventory_snapshot", "event_time": PRODUCED_AT,
        "produced_at": PRODUCED_AT, "store_id": 1,
        "items": [{"product_id": 1, "quantity": 2}, {"product_id": 1, "qty": 2}],
    }  # fmt: skip
    with pytest.raises(ContractViolation) as caught:
        serialize(INVENTORY_SNAPSHOT, record)
    assert caught.value.field == "items[1].qty"


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"store_id": "S1"}, "store_id"),
        ({"store_id": True}, "store_id"),
        ({"event_time": "2026-03-02T08:00:00.000Z"}, "event_time"),
        ({"event_time": datetime(2026, 3, 2, 8)}, "event_time"),
        ({"customer_id": 1.5}, "customer_id"),
        ({"lines": "none"}, "lines"),
    ],
)
def test_wrong_types_are_violations(overrides, field) -> None:
    with pytest.raises(ContractViolation) as caught:
        serialize(SALE, a_sale(**overrides))
    assert caught.value.field == field


def test_deserialize_refuses_what_is_not_json() -> None:
    with pytest.raises(ContractViolation, match="not JSON"):
        deserialize(SALE, b'{"event_id":')
