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
    0, -1, 1, 12, 99, 101, 10_000, 2**31, 2**63, 1.5, 1.234, 19.99, 0.005, -0.01, 1e30,
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
