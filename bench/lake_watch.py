"""How far the pipeline got, read from outside the job: the commits of
ops.stream_batches as they land in its Delta log.

A micro-batch commits its ops rows last (after gold, silver, bronze and quarantine),
so once the ops rows account for every record delivered to the topics, every table
holds the batch, and the ops commit's timestamp is when the whole batch was visible.
Commits are read incrementally (one JSON entry and one small file per new batch), so
polling stays cheap however long the run.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import unquote

import pyarrow.parquet as pq

from bench.latency import table_dir
from retail_lakehouse import tables

_COLUMNS = ["family", "batch_id", "input_rows", "started_at"]


@dataclass(frozen=True)
class BatchCommit:
    """One micro-batch as ops.stream_batches recorded it."""

    batch_id: int
    committed_ms: int  # the ops commit's timestamp: the batch is complete
    started_ms: float  # when the batch's processing began (foreachBatch called)
    rows: dict[str, int]  # records read, per family

    @property
    def duration_ms(self) -> float:
        """From foreachBatch's start to the ops commit: every table of the batch."""
        return self.committed_ms - self.started_ms


@dataclass
class OpsWatch:
    lake_root: str
    batches: list[BatchCommit] = field(default_factory=list)
    rows: Counter[str] = field(default_factory=Counter)
    _next_version: int = 0

    def poll(self) -> OpsWatch:
        """Read the commits that landed since the last poll."""
        log_dir = table_dir(self.lake_root, tables.STREAM_BATCHES) / "_delta_log"
        while (entry := log_dir / f"{self._next_version:020d}.json").exists():
            committed_ms, added = _read_entry(entry.read_text())
            parts = [
                pq.read_table(log_dir.parent / unquote(path), columns=_COLUMNS).to_pylist()
                for path in added
            ]
            rows = [r for part in parts for r in part]
            for batch_id in sorted({r["batch_id"] for r in rows}):
                mine = [r for r in rows if r["batch_id"] == batch_id]
                by_family = {r["family"]: int(r["input_rows"]) for r in mine}
                started = min(r["started_at"].timestamp() * 1000 for r in mine)
                self.batches.append(BatchCommit(batch_id, committed_ms, started, by_family))
                self.rows.update(by_family)
            self._next_version += 1
        return self

    @property
    def last_commit_ms(self) -> int | None:
        return self.batches[-1].committed_ms if self.batches else None

    def has_read(self, expected: dict[str, int]) -> bool:
        return all(self.rows[family] >= n for family, n in expected.items())


def _read_entry(text: str) -> tuple[int, list[str]]:
    """(commit timestamp ms, data files with new rows) of one Delta log entry."""
    committed_ms, added = 0, []
    for line in text.splitlines():
        if not line.strip():
            continue
        action = json.loads(line)
        if "commitInfo" in action:
            committed_ms = int(action["commitInfo"].get("timestamp") or 0)
        elif "add" in action and action["add"].get("dataChange", True):
            added.append(action["add"]["path"])
    return committed_ms, added


def wait_caught_up(
    watch: OpsWatch,
    expected: dict[str, int],
    timeout_s: float,
    check: Callable[[], None] = lambda: None,
    progress: Callable[[dict[str, str]], None] | None = None,
) -> int:
    """Until the ops rows account for `expected` records per family; returns the last
    ops commit's timestamp (epoch ms). `check()` raises when the query stopped;
    TimeoutError when the time runs out."""
    deadline = time.monotonic() + timeout_s
    last_log = time.monotonic()
    while not watch.poll().has_read(expected):
        check()
        if time.monotonic() > deadline:
            raise TimeoutError(
                f"the pipeline did not catch up in {timeout_s:.0f}s: "
                f"{dict(watch.rows)} of {expected}"
            )
        if progress is not None and time.monotonic() - last_log > 10:
            progress({f: f"{watch.rows[f]}/{n}" for f, n in expected.items()})
            last_log = time.monotonic()
        time.sleep(0.2)
    return int(watch.last_commit_ms or 0)
