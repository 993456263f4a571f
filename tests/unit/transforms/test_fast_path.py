"""The fast path and the rule chain give every record the same outcome.

`validated_records` runs a cheap check first and the rule chain only for the records it
finds a fault in; `rule_chain` runs the chain for all. Over thousands of generated bad
payloads (fields dropped, given values of every JSON type, amounts with too many
decimals, timestamps in other formats, items that are no objects, truncated text...) the
two must agree on the reason, its detail and the typed event, record by record.
"""

from __future__ import annotations

import json
import random

from chispa import assert_df_equality
from pyspark.sql import functions as F
from transforms_support import CHANGE, SALE, SNAPSHOT, VIEW, kafka_rows

from retail_lakehouse.contracts import CLICKSTREAM, INVENTORY, SALES, EventFamily
from spark_streaming.transforms.validation import rule_chain, validated_records

ODD_VALUES = [
    None, "", "x", "12", "1.23", "2026-03-02 08:00:01", "2026-03-02T08:00:01.123Z",
    "2026-03-02T09:00:01.123+01:00", "2026-02-30T08:00:01.123Z", "0999-03-02T08:00:01.123Z",
    0, -1, 1, 12, 99, 101, 10_000, 2**31, 2**63, -(2**31), -(2**63), 1.5, 1.234, 19.99,
    0.005, -0.01, 1e30,
    True, False, {}, {"a": 1}, [], [1], [None], [{}], "sale", "view", "restock", "store",
]  # fmt: skip


def mutations(payload: str, rng: random.Random, count: int) -> list[bytes]:
    """`count` variants of a valid payload, each with one to three faults."""
    event = json.loads(payload)
    variants = []
    for _ in range(count):
        mutated = json.loads(json.dumps(event))
        # most with a single fault: the record is then invalid for that reason alone
        for _ in range(1 if rng.random() < 0.6 else rng.randint(2, 3)):
            _mutate(mutated, rng)
        text = json.dumps(mutated)
        if rng.random() < 0.05:
            text = text[: rng.randint(0, len(text))]  # cut short: not JSON any more
        variants.append(text.encode())
    return variants


def _mutate(event: dict, rng: random.Random) -> None:
    if not event:
        return
    name = rng.choice(sorted(event))
    value = event[name]
    if isinstance(value, list) and value and rng.random() < 0.7:
        item = rng.randrange(len(value))
        if isinstance(value[item], dict) and value[item] and rng.random() < 0.8:
            field = rng.choice(sorted(value[item]))
            if rng.random() < 0.2:
                del value[item][field]
            else:
                value[item][field] = rng.choice(ODD_VALUES)
        else:
            value[item] = rng.choice(ODD_VALUES)
    elif rng.random() < 0.2:
        del event[name]
    else:
        event[name] = rng.choice(ODD_VALUES)


def agree(spark, family: EventFamily, payloads: list[bytes]) -> None:
    rows = kafka_rows(spark, payloads)
    columns = ["offset", "reason", "reason_detail", "event_id", "event_type", family.name]
    fast = validated_records(rows, {"t": family}).select(*columns)
    chain = rule_chain(rows, {"t": family}).select(*columns)
    assert_df_equality(fast, chain, ignore_row_order=True, ignore_nullable=True)
    # the generator does make both valid and faulty records
    outcomes = chain.groupBy(F.col("reason").isNull().alias("valid")).count().collect()
    assert {r["valid"] for r in outcomes} == {True, False}


def test_sales_payloads_get_the_same_outcome_both_ways(spark):
    rng = random.Random(1)
    agree(spark, SALES, [SALE.encode()] * 20 + mutations(SALE, rng, 1500))


def test_clickstream_payloads_get_the_same_outcome_both_ways(spark):
    rng = random.Random(2)
    agree(spark, CLICKSTREAM, [VIEW.encode()] * 20 + mutations(VIEW, rng, 1500))


def test_inventory_payloads_get_the_same_outcome_both_ways(spark):
    rng = random.Random(3)
    payloads = mutations(CHANGE, rng, 800) + mutations(SNAPSHOT, rng, 800)
    agree(spark, INVENTORY, [CHANGE.encode(), SNAPSHOT.encode()] * 10 + payloads)


def _basket(*lines: tuple[int, float, float], event_time: str | None = None) -> bytes:
    event = json.loads(SALE)
    event["lines"] = [
        {"line_number": n, "product_id": 1000 + n, "quantity": q, "unit_price": p, "discount": d}
        for n, (q, p, d) in enumerate(lines, start=1)
    ]
    if event_time is not None:
        event["event_time"] = event_time
    return json.dumps(event).encode()


def test_the_shortcuts_of_the_fast_path_reach_the_rule_chains_verdict(spark):
    """Records at the edges of the fast path, valid and not: a discount above the
    cheapest line's gross but within its own line's, one that is not, a timestamp with
    an offset (the fast path reads only UTC's Z and leaves the rest to the chain), an
    item at a type's smallest value, a payload that is no UTF-8 (parsed all the same by
    the fast path, and caught after it)."""
    payloads = [
        _basket((1, 1.00, 0.5), (10, 5.00, 20.00)),  # valid: each line within its gross
        _basket((1, 1.00, 0.5), (10, 5.00, 50.01)),  # line 2 above its gross
        _basket((2, 19.99, 0), event_time="2026-03-02T09:00:01.123+01:00"),  # valid
        _basket((-(2**31), 19.99, 0)),
        SALE.encode().replace(b"card", b"caf\xe9"),
    ]
    agree(spark, SALES, [SALE.encode(), *payloads])
    outcomes = validated_records(kafka_rows(spark, payloads), {"t": SALES}).orderBy("offset")
    assert [(r["reason"], r["reason_detail"]) for r in outcomes.collect()] == [
        (None, None),
        ("invalid_value", "lines[].discount"),
        (None, None),
        ("out_of_range", "lines[].quantity"),
        ("malformed_json", "payload is not valid UTF-8"),
    ]
