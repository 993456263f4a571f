"""Turning the clean event stream into the messy one a real feed delivers.

Each clean event gets at most one fault, drawn with the configured rates:
- duplicate: sent as is, then the same bytes again 1 to 5 messages later;
- out_of_order: event_time moved back 5 s .. out_of_order_max (inside a 2-minute watermark);
- late: event_time moved back by late_by (beyond the watermark);
- malformed: the event is replaced by a bad payload of a random kind (see `malformed`);
  the clean event is then never sent.

Every injected fault is written to the report's ledger when its message leaves the
injector, so the report always matches what was actually emitted.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from producer import malformed
from producer.messages import Draft, OutboundMessage, clean_message

FAULT_KINDS = ("duplicate", "out_of_order", "late", *malformed.MALFORMED_KINDS)
MIN_OUT_OF_ORDER = timedelta(seconds=5)
MAX_DUPLICATE_DELAY = 5  # messages


@dataclass(frozen=True)
class FaultConfig:
    """Share of clean events that get each fault; they add up to at most 1."""

    duplicate_rate: float = 0.0
    out_of_order_rate: float = 0.0
    late_rate: float = 0.0
    malformed_rate: float = 0.0
    late_by: timedelta = timedelta(minutes=10)
    out_of_order_max: timedelta = timedelta(seconds=60)

    def __post_init__(self) -> None:
        rates = self.rates
        if any(not 0.0 <= r <= 1.0 for r in rates):
            raise ValueError(f"fault rates must be between 0 and 1, got {rates}")
        if sum(rates) > 1.0:
            raise ValueError(f"fault rates add up to {sum(rates)}; at most 1 fault per event")
        if self.out_of_order_max < MIN_OUT_OF_ORDER:
            raise ValueError(f"out_of_order_max must be at least {MIN_OUT_OF_ORDER}")
        if self.late_by <= timedelta(0):
            raise ValueError("late_by must be positive")

    @property
    def rates(self) -> tuple[float, float, float, float]:
        return (self.duplicate_rate, self.out_of_order_rate, self.late_rate, self.malformed_rate)

    @classmethod
    def none(cls) -> FaultConfig:
        return cls()

    @classmethod
    def demo_defaults(cls) -> FaultConfig:
        """A noisy but plausible feed: 1 in 50 events duplicated, about 1 in 30 disordered."""
        return cls(duplicate_rate=0.02, out_of_order_rate=0.03, late_rate=0.005,
                   malformed_rate=0.005)  # fmt: skip


@dataclass(frozen=True)
class InjectedFault:
    """One ledger line. `event_id` is what the message carries (None when unreadable);
    `source_event_id` is the clean event the fault was made from."""

    kind: str
    topic: str
    event_id: str | None
    source_event_id: str
    detail: str = ""


@dataclass
class FaultReport:
    ledger: list[InjectedFault] = field(default_factory=list)

    @property
    def counts(self) -> dict[str, int]:
        """Faults per kind, every kind listed, zeros included."""
        seen = Counter(f.kind for f in self.ledger)
        return {kind: seen.get(kind, 0) for kind in FAULT_KINDS}

    @property
    def malformed(self) -> int:
        return sum(self.counts[kind] for kind in malformed.MALFORMED_KINDS)

    def to_dict(self) -> dict[str, int]:
        return {**self.counts, "malformed": self.malformed, "total": len(self.ledger)}


class FaultInjector:
    """Seeded: the same seed, config and clean stream give the same messages."""

    def __init__(self, config: FaultConfig, seed: int) -> None:
        self.config = config
        self.report = FaultReport()
        self._rng = random.Random(f"faults:{seed}")
        self._held: list[tuple[int, OutboundMessage]] = []  # duplicates waiting their turn

    def apply(self, drafts: Iterable[Draft]) -> Iterator[OutboundMessage]:
        for d in drafts:
            message, duplicate = self._one(d)
            yield message
            yield from self._due()
            if duplicate is not None:
                delay = self._rng.randint(1, MAX_DUPLICATE_DELAY)
                self._held.append((delay, duplicate))
        for _, duplicate in self._held:  # the stream ended: resend what is still held
            yield self._ledgered(duplicate, duplicate.event_id or "", "")
        self._held = []

    def _due(self) -> Iterator[OutboundMessage]:
        """Duplicates whose wait of n messages ends with the message just sent."""
        ticked = [(n - 1, m) for n, m in self._held]
        self._held = [(n, m) for n, m in ticked if n > 0]
        for n, duplicate in ticked:
            if n == 0:
                yield self._ledgered(duplicate, duplicate.event_id or "", "")

    def _one(self, d: Draft) -> tuple[OutboundMessage, OutboundMessage | None]:
        """The message for one clean event, and the duplicate to send later, if any."""
        c = self.config
        u = self._rng.random()
        if u < c.duplicate_rate:
            message = clean_message(d)
            return message, replace(message, fault="duplicate")
        u -= c.duplicate_rate
        if u < c.out_of_order_rate:
            shift_ms = self._rng.randint(
                MIN_OUT_OF_ORDER // timedelta(milliseconds=1),
                c.out_of_order_max // timedelta(milliseconds=1),
            )
            return self._shifted(d, "out_of_order", timedelta(milliseconds=shift_ms)), None
        u -= c.out_of_order_rate
        if u < c.late_rate:
            return self._shifted(d, "late", c.late_by), None
        u -= c.late_rate
        if u < c.malformed_rate:
            return self._malformed(d), None
        return clean_message(d), None

    def _shifted(self, d: Draft, kind: str, back_by: timedelta) -> OutboundMessage:
        event_time = d.record["event_time"]
        assert isinstance(event_time, datetime)
        record = {**d.record, "event_time": event_time - back_by}
        message = replace(clean_message(d, record), fault=kind)
        return self._ledgered(message, d.event_id, f"event_time -{back_by.total_seconds()}s")

    def _malformed(self, d: Draft) -> OutboundMessage:
        kind = self._rng.choice(malformed.MALFORMED_KINDS)
        payload, detail = malformed.make(kind, d.contract, d.record, self._rng)
        carried = malformed.carried(payload)
        message = OutboundMessage(
            topic=d.topic,
            key=d.key,
            value=payload,
            event_id=carried.get("event_id"),
            event_type=carried.get("event_type"),
            fault=kind,
        )
        return self._ledgered(message, d.event_id, detail)

    def _ledgered(self, message: OutboundMessage, source: str, detail: str) -> OutboundMessage:
        assert message.fault is not None
        self.report.ledger.append(
            InjectedFault(message.fault, message.topic, message.event_id, source, detail)
        )
        return message
