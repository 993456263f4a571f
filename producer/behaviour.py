"""How shoppers behave: basket sizes, discounts, payment, browsing and buying odds.

Pure functions of a seeded `random.Random`, so the simulator stays a scheduler.
"""

from __future__ import annotations

import math
import random
from decimal import ROUND_HALF_UP, Decimal

from producer.catalog import CENT, Product

LOYALTY_SHARE = 0.4  # till baskets where the customer shows a loyalty card
BOPIS_SHARE = 0.2  # web orders picked up in a store instead of shipped
SHRINK_SHARE = 0.02  # till baskets after which staff find units missing or broken
CART_SHARE = 0.15  # product views followed by an add-to-cart
REMOVE_SHARE = 0.08  # steps where a shopper with a cart removes something
PURCHASE_SHARE = 0.5  # sessions with a cart that check out
MEAN_EXTRA_VIEWS = 3.5  # product views after the first in a web session
SAME_CATEGORY_SHARE = 0.6  # next view stays in the category of the last one
MEAN_THINK_MS = 25_000  # time between clicks

BASKET_SIZES = (1, 2, 3, 4, 5, 6)
BASKET_SIZE_WEIGHTS = (35, 25, 18, 10, 7, 5)

DISCOUNT_BANDS = (Decimal("0"), Decimal("0.05"), Decimal("0.10"), Decimal("0.15"), Decimal("0.25"))
DISCOUNT_WEIGHTS = (72, 10, 9, 5, 4)

STORE_PAYMENTS = ("card", "cash", "mobile_wallet", "gift_card")
STORE_PAYMENT_WEIGHTS = (58, 22, 15, 5)
ONLINE_PAYMENTS = ("card", "mobile_wallet", "gift_card")
ONLINE_PAYMENT_WEIGHTS = (72, 23, 5)


def line_discount(rng: random.Random, unit_price: Decimal, quantity: int) -> Decimal:
    """A promotion band applied to the line, rounded half-up to the cent."""
    pct = rng.choices(DISCOUNT_BANDS, weights=DISCOUNT_WEIGHTS)[0]
    return (unit_price * quantity * pct).quantize(CENT, rounding=ROUND_HALF_UP)


def payment_type(rng: random.Random, online: bool) -> str:
    if online:
        return rng.choices(ONLINE_PAYMENTS, weights=ONLINE_PAYMENT_WEIGHTS)[0]
    return rng.choices(STORE_PAYMENTS, weights=STORE_PAYMENT_WEIGHTS)[0]


def basket_size(rng: random.Random) -> int:
    return rng.choices(BASKET_SIZES, weights=BASKET_SIZE_WEIGHTS)[0]


def shelf_quantity(rng: random.Random, product: Product) -> int:
    """Cheap items go into the basket by the handful, expensive ones one at a time."""
    if product.list_price < 50:
        return rng.choices((1, 2, 3, 4), weights=(55, 25, 12, 8))[0]
    return 1 if rng.random() < 0.9 else 2


def web_quantity(rng: random.Random) -> int:
    return 1 if rng.random() < 0.85 else 2


def extra_views(rng: random.Random) -> int:
    # the floor of an exponential is geometric: many short sessions, a few long ones
    return int(rng.expovariate(1 / MEAN_EXTRA_VIEWS))


def think_time_ms(rng: random.Random) -> int:
    return 1_000 + math.ceil(rng.expovariate(1 / MEAN_THINK_MS))


def restock_lead_time_ms(rng: random.Random) -> int:
    """A delivery arrives 20 to 90 minutes after stock drops below safety stock."""
    return math.ceil(rng.uniform(20, 90) * 60_000)


def popularity_weights(rng: random.Random, n_products: int) -> list[float]:
    """Zipf-like demand over a shuffled ranking: a few best sellers, a long tail."""
    ranks = list(range(1, n_products + 1))
    rng.shuffle(ranks)
    return [1 / rank**0.8 for rank in ranks]
