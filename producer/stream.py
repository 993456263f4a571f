"""The outbound message stream: simulated shop -> contract JSON -> faults.

`produced_at` is stamped into each payload from the wall clock when the message
is generated. The stream is lazy and the publisher pulls the next message only
right before producing it, so produced_at is the send time to within a
millisecond or so; downstream latency (produce -> table) is measured from it.
A duplicate repeats its original's bytes, produced_at included, as a resend does.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime

from producer.catalog import Catalog, build_catalog
from producer.clock import Clock, utc_now
from producer.faults import FaultConfig, FaultInjector, FaultReport
from producer.messages import Draft, OutboundMessage, draft
from producer.records import Record
from producer.simulator import ShopSimulator
from retail_lakehouse.settings import Settings


class MessageStream(Iterator[OutboundMessage]):
    """Messages to produce, with live counts of clean events and injected faults."""

    def __init__(self, settings: Settings, records: Iterable[Record], injector: FaultInjector,
                 wall_clock: Callable[[], datetime]) -> None:  # fmt: skip
        self.events = 0
        self._settings = settings
        self._wall_clock = wall_clock
        self._injector = injector
        self._messages = injector.apply(self._drafts(records))

    @property
    def faults(self) -> FaultReport:
        return self._injector.report

    def __next__(self) -> OutboundMessage:
        return next(self._messages)

    def _drafts(self, records: Iterable[Record]) -> Iterator[Draft]:
        for record in records:
            record["produced_at"] = self._wall_clock()
            self.events += 1
            yield draft(self._settings, record)


def generate_messages(
    settings: Settings,
    *,
    seed: int,
    events: int | None,
    faults: FaultConfig | None = None,
    clock: Clock,
    catalog: Catalog | None = None,
    wall_clock: Callable[[], datetime] = utc_now,
) -> MessageStream:
    """`events` clean events (None: endless) as messages, faults included.

    Deterministic for a fresh SimulatedClock, apart from produced_at; pass a
    fixed `wall_clock` to make the bytes reproducible too. Pass a new clock per
    call: a SimulatedClock moves forward as the stream is read.
    """
    catalog = catalog or build_catalog(seed)
    simulator = ShopSimulator(catalog, seed, clock)
    records: Iterable[Record] = simulator
    if events is not None:
        records = itertools.islice(simulator, events)
    injector = FaultInjector(faults or FaultConfig.none(), seed)
    return MessageStream(settings, records, injector, wall_clock)
