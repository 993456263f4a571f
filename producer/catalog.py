"""Stores and products of the simulated retailer, built from a seed.

Products look like the public REES46 e-commerce dataset: 7-digit product ids,
19-digit category ids and dotted category codes such as `electronics.smartphone`.
"""

from __future__ import annotations

import hashlib
import math
import random
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Literal

from faker import Faker

from producer.time_zones import DEFAULT_WEB_STORE_TIME_ZONE, state_time_zone

StoreType = Literal["physical", "online"]

ONLINE_STORE_ID = 900
CENT = Decimal("0.01")


@dataclass(frozen=True)
class Store:
    store_id: int
    store_name: str
    store_type: StoreType
    city: str
    region: str
    opened_on: date
    # IANA zone of the store's business day (the online store's is configurable:
    # reference_tables.stores_table takes WEB_STORE_TIME_ZONE)
    time_zone: str = DEFAULT_WEB_STORE_TIME_ZONE


@dataclass(frozen=True)
class Product:
    product_id: int
    product_name: str
    category_id: int
    category_code: str
    brand: str
    list_price: Decimal
    safety_stock: int


@dataclass(frozen=True)
class Catalog:
    stores: tuple[Store, ...]
    products: tuple[Product, ...]

    @property
    def online_store(self) -> Store:
        return next(s for s in self.stores if s.store_type == "online")

    @property
    def physical_stores(self) -> tuple[Store, ...]:
        return tuple(s for s in self.stores if s.store_type == "physical")

    def product(self, product_id: int) -> Product:
        for p in self.products:
            if p.product_id == product_id:
                return p
        raise KeyError(f"no product {product_id}")


@dataclass(frozen=True)
class _Category:
    code: str
    noun: str
    brands: tuple[str, ...]
    min_price: float
    max_price: float
    share: float  # relative number of products in the assortment


# Price ranges follow what these categories cost in the REES46 electronics store.
_CATEGORIES: tuple[_Category, ...] = (
    _Category(
        "electronics.smartphone",
        "Smartphone",
        ("samsung", "apple", "xiaomi", "huawei", "oppo"),
        89,
        1399,
        5,
    ),
    _Category(
        "electronics.audio.headphone",
        "Headphones",
        ("sony", "jbl", "apple", "samsung", "sennheiser"),
        9,
        399,
        3,
    ),
    _Category("electronics.video.tv", "TV", ("samsung", "lg", "sony", "philips"), 179, 2499, 2),
    _Category(
        "electronics.clocks", "Smartwatch", ("apple", "samsung", "garmin", "xiaomi"), 29, 799, 2
    ),
    _Category(
        "computers.notebook", "Notebook", ("lenovo", "hp", "asus", "acer", "apple"), 299, 2599, 3
    ),
    _Category("computers.peripherals.mouse", "Mouse", ("logitech", "razer", "hp"), 6, 129, 2),
    _Category(
        "appliances.kitchen.refrigerators",
        "Refrigerator",
        ("bosch", "lg", "samsung", "beko"),
        299,
        1999,
        1,
    ),
    _Category("appliances.kitchen.kettle", "Kettle", ("philips", "tefal", "bosch"), 12, 89, 2),
    _Category(
        "appliances.environment.vacuum",
        "Vacuum cleaner",
        ("dyson", "philips", "samsung", "karcher"),
        49,
        699,
        2,
    ),
    _Category(
        "appliances.personal.hair_cutter",
        "Hair clipper",
        ("philips", "braun", "remington"),
        14,
        149,
        1,
    ),
    _Category("furniture.living_room.chair", "Chair", ("ikea", "nowystyl", "halmar"), 25, 349, 1),
    _Category("kids.toys", "Toy set", ("lego", "hasbro", "mattel"), 8, 199, 2),
    _Category("sport.bicycle", "Bicycle", ("trek", "giant", "cube"), 199, 1899, 1),
    _Category("construction.tools.drill", "Drill", ("bosch", "makita", "dewalt"), 39, 399, 1),
    _Category("accessories.bag", "Backpack", ("samsonite", "xiaomi", "thule"), 15, 249, 1),
)

_STORE_SUFFIXES = ("Mall", "Downtown", "Retail Park", "Plaza", "High Street", "Outlet")


def build_catalog(seed: int, n_stores: int = 12, n_products: int = 200) -> Catalog:
    """The same seed gives the same catalog; the last store is the only online one."""
    if n_stores < 2:
        raise ValueError("n_stores must be at least 2: one online store and a physical one")
    if not 1 <= n_products <= 9_000_000:
        raise ValueError("n_products must be between 1 and 9,000,000 (7-digit ids)")
    rng = random.Random(seed)
    fake = Faker("en_US")
    fake.seed_instance(seed)
    return Catalog(stores=_stores(rng, fake, n_stores), products=_products(rng, fake, n_products))


def category_id(code: str) -> int:
    """A stable REES46-like 19-digit id per category code, independent of the seed."""
    digest = int.from_bytes(hashlib.sha256(code.encode()).digest()[:8], "big")
    return 2_053_013_550_000_000_000 + digest % 10_000_000_000


def _stores(rng: random.Random, fake: Faker, n_stores: int) -> tuple[Store, ...]:
    first_opening = date(2005, 1, 1)
    span_days = (date(2024, 12, 31) - first_opening).days
    stores = []
    for store_id in range(1, n_stores):
        city = fake.unique.city()
        state = fake.state()
        stores.append(
            Store(
                store_id=store_id,
                store_name=f"{city} {rng.choice(_STORE_SUFFIXES)}",
                store_type="physical",
                city=city,
                region=state,
                opened_on=first_opening + timedelta(days=rng.randrange(span_days)),
                time_zone=state_time_zone(state),
            )
        )
    # The online store is also the warehouse that ships web orders
    stores.append(
        Store(
            ONLINE_STORE_ID, "Online Store", "online", stores[0].city, "National", date(2012, 4, 1)
        )
    )
    return tuple(stores)


def _products(rng: random.Random, fake: Faker, n_products: int) -> tuple[Product, ...]:
    product_ids = rng.sample(range(1_000_000, 10_000_000), n_products)
    shares = [c.share for c in _CATEGORIES]
    products = []
    for product_id in product_ids:
        category = rng.choices(_CATEGORIES, weights=shares)[0]
        brand = rng.choice(category.brands)
        price = _log_uniform_price(rng, category.min_price, category.max_price)
        products.append(
            Product(
                product_id=product_id,
                product_name=f"{brand.title()} {category.noun} {fake.bothify('??-###').upper()}",
                category_id=category_id(category.code),
                category_code=category.code,
                brand=brand,
                list_price=price,
                safety_stock=_safety_stock(rng, price),
            )
        )
    return tuple(products)


def _log_uniform_price(rng: random.Random, low: float, high: float) -> Decimal:
    """Cheap models outnumber premium ones; prices end in .99 like shelf prices."""
    whole = math.floor(math.exp(rng.uniform(math.log(low), math.log(high))))
    return (Decimal(whole) + Decimal("0.99")).quantize(CENT, rounding=ROUND_HALF_UP)


def _safety_stock(rng: random.Random, price: Decimal) -> int:
    # Stores keep more units of cheap, fast-moving items on the shelf
    if price < 50:
        return rng.randint(12, 30)
    if price < 500:
        return rng.randint(6, 15)
    return rng.randint(3, 8)
