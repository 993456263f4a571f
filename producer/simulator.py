"""A seeded shop: tills, a website, stock, deliveries and stock counts.

The simulation is a small discrete-event loop. Shoppers, deliveries and stock
counts are processes (generators that yield how many milliseconds to wait);
an agenda runs them in time order and each step may emit event records.

Guarantees the rest of the pipeline can lean on:
- a web purchase emits clickstream `purchase` events, a `sale` and an
  `inventory_change` with the same products and quantities, all at one time;
  the change's trans_id is the sale's transaction_id;
- a transaction id is unique to one event, also across runs with different seeds
  (it carries the seed), so counting distinct transactions per micro-batch adds up;
- stock never goes negative: a sale takes only what is on the shelf;
- a stock count (`inventory_snapshot`) at time T includes every change with
  event_time <= T, because counts run after everything else at the same millisecond
  (exact with the simulated clock; the real-time clock stamps the wall clock);
- counts happen at the start and then every `snapshot_every` for every store.
"""

from __future__ import annotations

import itertools
import random
import uuid
from collections.abc import Iterator
from datetime import timedelta

from producer import behaviour, records
from producer.agenda import Agenda, Process
from producer.catalog import Catalog, Product, Store
from producer.clock import Clock, from_ms, to_ms
from producer.demand import Demand
from producer.records import Envelope, Record, SaleLine
from producer.stock import StockBook, opening_stock, restock_target
from producer.traffic import Traffic

_SHOPPERS, _STOCK_COUNTS = 0, 1  # agenda priority within one millisecond


class ShopSimulator:
    """Iterate over it for an endless, time-ordered stream of contract records.

    The same catalog, seed and a fresh SimulatedClock give the same records.
    `produced_at` is left None: the publisher stamps it when it sends.
    """

    def __init__(
        self,
        catalog: Catalog,
        seed: int,
        clock: Clock,
        *,
        snapshot_every: timedelta = timedelta(hours=1),
        traffic_scale: float = 1.0,
        n_customers: int = 8_000,
    ) -> None:
        if snapshot_every <= timedelta(0):
            raise ValueError("snapshot_every must be positive")
        self.catalog = catalog
        self._rng = random.Random(seed)
        self._clock = clock
        self._now_ms = to_ms(clock.now())
        self._product_ids = [p.product_id for p in catalog.products]
        self._online = catalog.online_store
        self._demand = Demand(catalog, self._rng, n_customers)
        self.book: StockBook = opening_stock(catalog, self._rng)
        self._traffic = Traffic(len(catalog.physical_stores), traffic_scale)
        self._snapshot_every_ms = snapshot_every // timedelta(milliseconds=1)
        self._pending_deliveries: set[tuple[int, int]] = set()
        self._transactions = itertools.count(1)
        self._seed = seed
        self._outbox: list[Record] = []
        self._agenda = Agenda()
        self._agenda.schedule(self._now_ms, self._stock_counts(), _STOCK_COUNTS)
        self._agenda.schedule(self._now_ms, self._arrivals(), _SHOPPERS)

    def __iter__(self) -> Iterator[Record]:
        return self.events()

    def events(self) -> Iterator[Record]:
        while self._agenda:
            self._agenda.run_next(self._set_time)
            if self._outbox:
                emitted, self._outbox = self._outbox, []
                yield from emitted

    # --- processes -------------------------------------------------------------

    def _arrivals(self) -> Process:
        while True:
            at, channel = self._traffic.next_arrival(self._now_ms, self._rng)
            yield at - self._now_ms
            if channel == "online":
                self._agenda.schedule(self._now_ms, self._web_session(), _SHOPPERS)
                continue
            self._till_basket()
            # staff find missing or broken units while the store is open
            if self._rng.random() < behaviour.SHRINK_SHARE:
                self._shrink()

    def _stock_counts(self) -> Process:
        while True:
            for store in self.catalog.stores:
                items = self.book.count(store.store_id, self._product_ids)
                self._emit(
                    records.inventory_snapshot(
                        self._envelope(), store_id=store.store_id, items=items
                    )
                )
            yield self._snapshot_every_ms

    def _web_session(self) -> Process:
        rng = self._rng
        user_id = self._demand.customer()
        session = self._uuid()
        cart: dict[int, Product] = {}
        product = self._demand.popular_product()
        for _ in range(1 + behaviour.extra_views(rng)):
            self._click("view", product, user_id, session)
            if rng.random() < behaviour.CART_SHARE:
                yield behaviour.think_time_ms(rng)
                cart[product.product_id] = product
                self._click("cart", product, user_id, session)
            if cart and rng.random() < behaviour.REMOVE_SHARE:
                yield behaviour.think_time_ms(rng)
                removed = cart.pop(rng.choice(list(cart)))
                self._click("remove_from_cart", removed, user_id, session)
            yield behaviour.think_time_ms(rng)
            product = self._demand.next_view(product)
        if cart and rng.random() < behaviour.PURCHASE_SHARE:
            self._web_order(user_id, session, list(cart.values()))

    def _delivery(self, store: Store, product: Product) -> Process:
        yield behaviour.restock_lead_time_ms(self._rng)
        key = (store.store_id, product.product_id)
        self._pending_deliveries.discard(key)
        quantity = restock_target(store, product) - self.book.on_hand(*key)
        if quantity > 0:
            self.book.add(store.store_id, product.product_id, quantity)
            self._change(
                store,
                "restock",
                self._transaction_id("RST"),
                [(product.product_id, quantity)],
            )

    # --- what shoppers do ------------------------------------------------------

    def _till_basket(self) -> None:
        rng = self._rng
        store = self._demand.physical_store()
        size = behaviour.basket_size(rng)
        chosen: dict[int, Product] = {}
        for _ in range(size * 3):  # a shopper skips empty shelves, then gives up
            product = self._demand.popular_product()
            if self.book.on_hand(store.store_id, product.product_id) > 0:
                chosen.setdefault(product.product_id, product)
            if len(chosen) == size:
                break
        wanted = [(p, behaviour.shelf_quantity(rng, p)) for p in chosen.values()]
        lines = self._take(store, wanted)
        if not lines:
            return
        loyal = rng.random() < behaviour.LOYALTY_SHARE
        customer_id = self._demand.customer() if loyal else None
        transaction_id = self._transaction_id(f"POS-{store.store_id:04d}")
        self._sell(store, "store", transaction_id, customer_id, lines)

    def _web_order(self, user_id: int, session: str, products: list[Product]) -> None:
        rng = self._rng
        bopis = rng.random() < behaviour.BOPIS_SHARE
        store = self._demand.physical_store() if bopis else self._online
        lines = self._take(store, [(p, behaviour.web_quantity(rng)) for p in products])
        if not lines:
            return  # out of stock at checkout: the session ends without a purchase
        for product, _ in lines:
            self._click("purchase", product, user_id, session)
        transaction_id = self._transaction_id("WEB")
        self._sell(store, "bopis" if bopis else "online", transaction_id, user_id, lines)

    def _shrink(self) -> None:
        store = self._demand.physical_store()
        product = self._demand.popular_product()
        lost = self._take(store, [(product, self._rng.randint(1, 2))])
        if lost:
            items = [(p.product_id, -qty) for p, qty in lost]
            self._change(store, "shrink", self._transaction_id("SHR"), items)

    def _sell(
        self,
        store: Store,
        channel: str,
        transaction_id: str,
        customer_id: int | None,
        lines: list[tuple[Product, int]],
    ) -> None:
        rng = self._rng
        sale_lines = [
            SaleLine(
                p.product_id, qty, p.list_price, behaviour.line_discount(rng, p.list_price, qty)
            )
            for p, qty in lines
        ]
        sale = records.sale(
            self._envelope(),
            transaction_id=transaction_id,
            store_id=store.store_id,
            channel=channel,
            customer_id=customer_id,
            payment_type=behaviour.payment_type(rng, online=channel != "store"),
            lines=sale_lines,
        )
        self._emit(sale)
        change_type = "bopis" if channel == "bopis" else "sale"
        self._change(store, change_type, transaction_id, [(p.product_id, -qty) for p, qty in lines])

    # --- helpers ---------------------------------------------------------------

    def _take(self, store: Store, wanted: list[tuple[Product, int]]) -> list[tuple[Product, int]]:
        """Take stock off the shelf; returns what was there and calls for deliveries."""
        taken = []
        for product, quantity in wanted:
            got = self.book.take(store.store_id, product.product_id, quantity)
            if got:
                taken.append((product, got))
            self._maybe_order_delivery(store, product)
        return taken

    def _maybe_order_delivery(self, store: Store, product: Product) -> None:
        key = (store.store_id, product.product_id)
        below = self.book.on_hand(*key) < product.safety_stock
        if below and key not in self._pending_deliveries:
            self._pending_deliveries.add(key)
            self._agenda.schedule(self._now_ms, self._delivery(store, product), _SHOPPERS)

    def _change(
        self, store: Store, change_type: str, trans_id: str, items: list[tuple[int, int]]
    ) -> None:
        self._emit(
            records.inventory_change(
                self._envelope(),
                trans_id=trans_id,
                store_id=store.store_id,
                change_type=change_type,
                items=items,
            )
        )

    def _click(self, event_type: str, product: Product, user_id: int, session: str) -> None:
        self._emit(
            records.click(
                self._envelope(),
                event_type=event_type,
                product=product,
                user_id=user_id,
                user_session=session,
            )
        )

    def _transaction_id(self, prefix: str) -> str:
        # two producers with different seeds count from 1 alike; the seed keeps them apart
        return f"{prefix}-{self._seed}-{next(self._transactions):08d}"

    def _uuid(self) -> str:
        return str(uuid.UUID(int=self._rng.getrandbits(128), version=4))

    def _envelope(self) -> Envelope:
        return Envelope(event_id=self._uuid(), event_time=self._clock.now())

    def _emit(self, record: Record) -> None:
        self._outbox.append(record)

    def _set_time(self, t_ms: int) -> None:
        self._now_ms = t_ms
        self._clock.advance_to(from_ms(t_ms))
