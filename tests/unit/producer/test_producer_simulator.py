"""Shop invariants, checked by replaying the event stream in plain Python."""

from __future__ import annotations

import itertools
from collections import Counter, defaultdict
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal

import pytest

from producer.catalog import build_catalog
from producer.clock import SimulatedClock
from producer.simulator import ShopSimulator
from retail_lakehouse.contracts import contract_for

MIDNIGHT = datetime(2026, 3, 2, tzinfo=UTC)
NEXT_MIDNIGHT = datetime(2026, 3, 3, tzinfo=UTC)
BANDS = [Decimal(p) for p in ("0", "0.05", "0.10", "0.15", "0.25")]


@pytest.fixture(scope="module")
def catalog():
    return build_catalog(11, n_stores=6, n_products=60)


@pytest.fixture(scope="module")
def day(catalog):
    """One simulated day; snapshots are paired with the simulator's own book at that moment."""
    sim = ShopSimulator(catalog, 11, SimulatedClock(MIDNIGHT))
    initial = sim.book.initial
    records, books = [], {}
    for record in sim:
        if record["event_time"] >= NEXT_MIDNIGHT:
            break
        if record["event_type"] == "inventory_snapshot":
            books[record["event_id"]] = sim.book.as_dict()
        records.append(record)
    return records, initial, books


def of_type(records, *types):
    return [r for r in records if r["event_type"] in types]


def test_records_have_exactly_the_contract_fields(day) -> None:
    records, _, _ = day
    for r in records:
        assert tuple(r) == contract_for(r["event_type"]).field_names
        assert r["produced_at"] is None


def test_event_times_never_go_back_and_are_in_milliseconds(day) -> None:
    records, _, _ = day
    times = [r["event_time"] for r in records]
    assert times == sorted(times)
    assert all(t.microsecond % 1000 == 0 and t.tzinfo is not None for t in times)


def test_event_ids_are_unique(day) -> None:
    records, _, _ = day
    assert len({r["event_id"] for r in records}) == len(records)


def test_every_sale_has_a_matching_inventory_change(day, catalog) -> None:
    records, _, _ = day
    changes = {r["trans_id"]: r for r in of_type(records, "inventory_change")}
    sales = of_type(records, "sale")
    assert Counter(s["channel"] for s in sales).keys() == {"store", "online", "bopis"}
    for sale in sales:
        change = changes[sale["transaction_id"]]
        expected_type = "bopis" if sale["channel"] == "bopis" else "sale"
        assert change["change_type"] == expected_type
        assert change["store_id"] == sale["store_id"]
        assert change["event_time"] == sale["event_time"]
        assert change["items"] == [
            {"product_id": line["product_id"], "quantity": -line["quantity"]}
            for line in sale["lines"]
        ]
    sale_ids = {s["transaction_id"] for s in sales}
    for change in changes.values():
        if change["change_type"] in ("sale", "bopis"):
            assert change["trans_id"] in sale_ids


def test_channels_and_stores_fit_together(day, catalog) -> None:
    records, _, _ = day
    online_id = catalog.online_store.store_id
    for sale in of_type(records, "sale"):
        if sale["channel"] == "online":
            assert sale["store_id"] == online_id
        else:
            assert sale["store_id"] != online_id
        if sale["channel"] != "store":
            assert sale["customer_id"] is not None


def test_web_purchases_match_their_sale(day) -> None:
    records, _, _ = day
    purchases = defaultdict(list)
    for click in of_type(records, "purchase"):
        purchases[(click["user_id"], click["event_time"])].append(click)
    web_sales = [s for s in of_type(records, "sale") if s["channel"] != "store"]
    assert len(web_sales) == len(purchases) > 10
    for sale in web_sales:
        clicks = purchases[(sale["customer_id"], sale["event_time"])]
        assert [c["product_id"] for c in clicks] == [line["product_id"] for line in sale["lines"]]
        assert [c["price"] for c in clicks] == [line["unit_price"] for line in sale["lines"]]
        assert len({c["user_session"] for c in clicks}) == 1


def test_web_sessions_view_before_they_cart_or_buy(day) -> None:
    records, _, _ = day
    first_seen = {}
    for click in of_type(records, "view", "cart", "remove_from_cart", "purchase"):
        first_seen.setdefault(click["user_session"], click["event_type"])
    assert set(first_seen.values()) == {"view"}


def test_store_baskets_carry_a_loyalty_card_about_forty_percent_of_the_time(day) -> None:
    records, _, _ = day
    store_sales = [s for s in of_type(records, "sale") if s["channel"] == "store"]
    known = sum(s["customer_id"] is not None for s in store_sales) / len(store_sales)
    assert 0.35 < known < 0.45


def test_discounts_come_from_the_promotion_bands(day) -> None:
    records, _, _ = day
    pcts = Counter()
    for sale in of_type(records, "sale"):
        for line in sale["lines"]:
            gross = line["quantity"] * line["unit_price"]
            matches = [
                p
                for p in BANDS
                if (gross * p).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP) == line["discount"]
            ]
            assert matches, line
            pcts[matches[-1]] += 1
    assert pcts[Decimal("0")] > pcts[Decimal("0.05")] > pcts[Decimal("0.25")] > 0


def replay(records, initial):
    """Yield (record, stock before it) while applying every inventory change."""
    stock = dict(initial)
    for r in records:
        yield r, dict(stock)
        if r["event_type"] == "inventory_change":
            for item in r["items"]:
                stock[(r["store_id"], item["product_id"])] += item["quantity"]


def test_stock_never_goes_negative(day) -> None:
    records, initial, _ = day
    assert min(initial.values()) >= 0
    for _, stock in replay(records, initial):
        assert min(stock.values()) >= 0


def test_snapshots_equal_the_replayed_stock_and_the_simulator_book(day, catalog) -> None:
    records, initial, books = day
    snapshots = 0
    for r, stock in replay(records, initial):
        if r["event_type"] != "inventory_snapshot":
            continue
        snapshots += 1
        counted = {(r["store_id"], i["product_id"]): i["quantity"] for i in r["items"]}
        expected = {k: v for k, v in stock.items() if k[0] == r["store_id"]}
        assert counted == expected
        assert counted == {k: v for k, v in books[r["event_id"]].items() if k[0] == r["store_id"]}
    # every store, at midnight and then every hour of the day
    assert snapshots == len(catalog.stores) * 24


def test_snapshots_come_every_hour(day, catalog) -> None:
    records, _, _ = day
    times = sorted({r["event_time"] for r in of_type(records, "inventory_snapshot")})
    assert times[:3] == [
        datetime(2026, 3, 2, 0, 0, tzinfo=UTC),
        datetime(2026, 3, 2, 1, 0, tzinfo=UTC),
        datetime(2026, 3, 2, 2, 0, tzinfo=UTC),
    ]
    assert len(times) == 24


def test_restocks_refill_shelves_that_fell_below_safety_stock(day, catalog) -> None:
    records, initial, _ = day
    safety = {p.product_id: p.safety_stock for p in catalog.products}
    restocks = 0
    for r, stock in replay(records, initial):
        if r["event_type"] == "inventory_change" and r["change_type"] == "restock":
            restocks += 1
            (item,) = r["items"]
            assert item["quantity"] > 0
            assert stock[(r["store_id"], item["product_id"])] < safety[item["product_id"]]
    assert restocks > 20


def test_shrink_is_negative_and_happens(day) -> None:
    records, _, _ = day
    shrink = [r for r in of_type(records, "inventory_change") if r["change_type"] == "shrink"]
    assert shrink
    assert all(i["quantity"] < 0 for r in shrink for i in r["items"])


def test_stores_open_eight_to_twenty_two_and_online_peaks_in_the_evening(day) -> None:
    records, _, _ = day
    store_hours = Counter(
        s["event_time"].hour for s in of_type(records, "sale") if s["channel"] == "store"
    )
    assert set(store_hours) == set(range(8, 22))
    assert store_hours[12] > 2 * store_hours[8]
    views = Counter(v["event_time"].hour for v in of_type(records, "view"))
    evening = sum(views[h] for h in (19, 20, 21))
    small_hours = sum(views[h] for h in (2, 3, 4))
    morning = sum(views[h] for h in (8, 9, 10))
    assert evening > 10 * small_hours and evening > 2 * morning


def test_same_seed_and_clock_replay_the_same_events(catalog) -> None:
    def first(seed):
        sim = ShopSimulator(catalog, seed, SimulatedClock())
        return list(itertools.islice(sim, 3000))

    assert first(5) == first(5)
    assert first(5) != first(6)


def test_two_seeds_at_the_same_moment_never_share_a_transaction_id(catalog) -> None:
    # gold counts distinct transactions per micro-batch and adds them up, so a sale from
    # one producer must not reuse another producer's transaction id in the same window
    def transaction_ids(seed):
        sim = ShopSimulator(catalog, seed, SimulatedClock(MIDNIGHT))
        ids = set()
        for record in itertools.islice(sim, 3000):
            ids.add(record.get("transaction_id") or record.get("trans_id"))
        return ids - {None}

    first, second = transaction_ids(17), transaction_ids(18)
    assert first and second
    assert not first & second
