from __future__ import annotations

from decimal import Decimal

from producer.catalog import ONLINE_STORE_ID, build_catalog, category_id


def test_same_seed_gives_the_same_catalog() -> None:
    assert build_catalog(7) == build_catalog(7)


def test_different_seeds_give_different_catalogs() -> None:
    first, second = build_catalog(7), build_catalog(8)
    assert first.products != second.products
    assert first.stores != second.stores


def test_exactly_one_online_store_and_it_is_the_last() -> None:
    catalog = build_catalog(1, n_stores=5)
    types = [s.store_type for s in catalog.stores]
    assert types == ["physical", "physical", "physical", "physical", "online"]
    assert catalog.online_store.store_id == ONLINE_STORE_ID
    assert [s.store_id for s in catalog.physical_stores] == [1, 2, 3, 4]


def test_products_look_like_rees46() -> None:
    catalog = build_catalog(3, n_products=300)
    ids = [p.product_id for p in catalog.products]
    assert len(set(ids)) == 300
    assert all(1_000_000 <= i <= 9_999_999 for i in ids)
    for p in catalog.products:
        assert len(str(p.category_id)) == 19 and p.category_id < 2**63
        assert "." in p.category_code and p.category_code == p.category_code.lower()
        assert p.list_price > 0 and p.list_price.as_tuple().exponent == -2
        assert p.safety_stock > 0
        assert p.brand.title() in p.product_name


def test_category_ids_are_stable_across_seeds() -> None:
    by_code = {}
    for seed in (1, 2):
        for p in build_catalog(seed).products:
            by_code.setdefault(p.category_code, set()).add(p.category_id)
    assert all(len(ids) == 1 for ids in by_code.values())
    assert category_id("electronics.smartphone") == category_id("electronics.smartphone")


def test_prices_are_realistic_per_category() -> None:
    catalog = build_catalog(5, n_products=500)
    phones = [p.list_price for p in catalog.products if p.category_code == "electronics.smartphone"]
    kettles = [
        p.list_price for p in catalog.products if p.category_code == "appliances.kitchen.kettle"
    ]
    assert phones and kettles
    assert all(Decimal("89") <= x <= Decimal("1400") for x in phones)
    assert all(Decimal("12") <= x <= Decimal("90") for x in kettles)
