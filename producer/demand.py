"""Who shops, what they pick and where: seeded popularity and store footfall."""

from __future__ import annotations

import itertools
import random

from producer import behaviour
from producer.catalog import Catalog, Product, Store


class Demand:
    def __init__(self, catalog: Catalog, rng: random.Random, n_customers: int) -> None:
        self._rng = rng
        self._products = catalog.products
        self._physical = catalog.physical_stores
        # bigger stores see more baskets
        self._store_weights = [rng.uniform(0.6, 1.4) for _ in self._physical]
        weights = behaviour.popularity_weights(rng, len(catalog.products))
        self._cum_popularity = list(itertools.accumulate(weights))
        self._by_category: dict[str, list[Product]] = {}
        for product in catalog.products:
            self._by_category.setdefault(product.category_code, []).append(product)
        # REES46-like 9-digit user ids, shared by web users and loyalty-card holders
        self._customers = rng.sample(range(500_000_000, 600_000_000), n_customers)

    def popular_product(self) -> Product:
        return self._rng.choices(self._products, cum_weights=self._cum_popularity)[0]

    def next_view(self, last: Product) -> Product:
        """Shoppers mostly keep browsing the category they are in."""
        if self._rng.random() < behaviour.SAME_CATEGORY_SHARE:
            return self._rng.choice(self._by_category[last.category_code])
        return self.popular_product()

    def physical_store(self) -> Store:
        return self._rng.choices(self._physical, weights=self._store_weights)[0]

    def customer(self) -> int:
        return self._rng.choice(self._customers)
