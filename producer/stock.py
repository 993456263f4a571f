"""The simulator's stock book: true units on hand per store and product."""

from __future__ import annotations

import random
from collections.abc import Mapping

from producer.catalog import Catalog, Product, Store

StockKey = tuple[int, int]  # (store_id, product_id)

# The online store is the warehouse behind every web order, so it holds more
WAREHOUSE_FACTOR = 3


class StockBook:
    """On-hand units that never go below zero: a sale takes only what is there."""

    def __init__(self, initial: Mapping[StockKey, int]) -> None:
        if any(qty < 0 for qty in initial.values()):
            raise ValueError("initial stock cannot be negative")
        self._initial = dict(initial)
        self._on_hand = dict(initial)

    @property
    def initial(self) -> dict[StockKey, int]:
        return dict(self._initial)

    def on_hand(self, store_id: int, product_id: int) -> int:
        return self._on_hand[(store_id, product_id)]

    def take(self, store_id: int, product_id: int, wanted: int) -> int:
        """Remove up to `wanted` units and return how many were actually there."""
        available = self._on_hand[(store_id, product_id)]
        taken = max(0, min(wanted, available))
        self._on_hand[(store_id, product_id)] = available - taken
        return taken

    def add(self, store_id: int, product_id: int, quantity: int) -> None:
        if quantity < 0:
            raise ValueError("use take() to remove stock")
        self._on_hand[(store_id, product_id)] += quantity

    def count(self, store_id: int, product_ids: list[int]) -> list[tuple[int, int]]:
        """A stock count of one store: (product_id, on hand) in the given order."""
        return [(pid, self._on_hand[(store_id, pid)]) for pid in product_ids]

    def as_dict(self) -> dict[StockKey, int]:
        return dict(self._on_hand)


def restock_target(store: Store, product: Product) -> int:
    """The level a delivery fills a shelf up to."""
    factor = WAREHOUSE_FACTOR if store.store_type == "online" else 1
    return product.safety_stock * 4 * factor


def opening_stock(catalog: Catalog, rng: random.Random) -> StockBook:
    """Every store carries every product, at two to four times safety stock."""
    initial: dict[StockKey, int] = {}
    for store in catalog.stores:
        factor = WAREHOUSE_FACTOR if store.store_type == "online" else 1
        for product in catalog.products:
            initial[(store.store_id, product.product_id)] = (
                product.safety_stock * factor * rng.randint(2, 4)
            )
    return StockBook(initial)
