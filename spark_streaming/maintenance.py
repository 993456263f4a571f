"""Compaction and vacuum of the lake's Delta tables, safe alongside the running streams.

Streaming makes a few small files per table per micro-batch; reads and gold MERGEs
slow down as they pile up. Compaction rewrites them into larger files and vacuum
deletes the files no version younger than the retention period references.

Both are safe next to the streams: compaction only removes files it rewrote itself
(appends never conflict with it; a MERGE that loses the race is retried by the
writer), and vacuum keeps every file a reader or a time-travel query of the last
`retention_hours` can need. A conflict makes compaction skip that table this time.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from typing import Any

from retail_lakehouse import tables
from retail_lakehouse.logs import kv
from retail_lakehouse.tables import TableSpec

log = logging.getLogger(__name__)

DEFAULT_RETENTION_HOURS = 168


def maintain_tables(
    writer: Any, specs: Iterable[TableSpec], retention_hours: int = DEFAULT_RETENTION_HOURS
) -> dict[str, dict[str, Any]]:
    """Compact then vacuum each table that exists; {table: outcome}. A table whose
    compaction lost a commit race to a stream is reported and left for next time."""
    inner = getattr(writer, "inner", writer)  # see through the crash drill wrapper
    outcome: dict[str, dict[str, Any]] = {}
    for spec in specs:
        if not inner.exists(spec):
            continue
        try:
            outcome[spec.qualified_name] = inner.compact(spec, retention_hours=retention_hours)
        except Exception as error:  # best effort: the next run tries again
            reason = str(error)[:200]
            log.warning(kv("maintenance_skipped", table=spec.qualified_name, error=reason))
            outcome[spec.qualified_name] = {"skipped": reason}
    return outcome


def lake_tables() -> list[TableSpec]:
    """Every table the streams write (reference tables are rewritten whole by the producer)."""
    return [spec for spec in tables.ALL_TABLES if spec.layer != "reference"]


class PeriodicMaintenance:
    """Runs `maintain_tables` on a family's tables every N batches, in the background:
    the batch that triggers it does not wait, and a run still going is not doubled."""

    def __init__(self, writer: Any, specs: list[TableSpec], every_batches: int) -> None:
        self.writer = writer
        self.specs = specs
        self.every_batches = every_batches
        self._running: threading.Thread | None = None

    def after_batch(self, batch_id: int) -> bool:
        """Start a run when batch_id is a multiple of N; True when one was started."""
        if not self.every_batches or batch_id == 0 or batch_id % self.every_batches:
            return False
        if self._running is not None and self._running.is_alive():
            return False
        self._running = threading.Thread(
            target=maintain_tables,
            args=(self.writer, self.specs),
            name="lake-maintenance",
            daemon=True,
        )
        self._running.start()
        return True

    def join(self, timeout_s: float | None = None) -> None:
        if self._running is not None:
            self._running.join(timeout_s)
