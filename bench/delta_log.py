"""Read a Delta table's commit log directly: when each commit happened, which batch
(app transaction) it carried, and which rows it added.

This is the outside view of latency: a row is visible to readers from the moment
its commit's JSON entry is written, whatever the job itself reports.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq


@dataclass(frozen=True)
class Commit:
    version: int
    timestamp_ms: int  # commitInfo.timestamp: the writer's clock when it committed
    operation: str
    batch_ids: tuple[int, ...]  # versions of the app transactions it carried
    # data files with new rows, relative to the table; a compaction's rewritten files
    # (dataChange false) are left out: their rows were counted when first committed
    added: tuple[str, ...] = field(default=())


def commits(table_dir: Path) -> list[Commit]:
    """Every commit of a local Delta table, oldest first; [] when there is no table."""
    log_dir = table_dir / "_delta_log"
    if not log_dir.is_dir():
        return []
    found = []
    for entry in sorted(log_dir.glob("*.json")):
        version = int(entry.stem)
        timestamp, operation, batches, added = 0, "", [], []
        for line in entry.read_text().splitlines():
            if not line.strip():
                continue
            action = json.loads(line)
            if "commitInfo" in action:
                info = action["commitInfo"]
                timestamp = int(info.get("timestamp") or 0)
                operation = str(info.get("operation", ""))
            elif "txn" in action:
                batches.append(int(action["txn"]["version"]))
            elif "add" in action and action["add"].get("dataChange", True):
                added.append(action["add"]["path"])
        if not timestamp:  # writers that leave commitInfo out: the file's own time
            timestamp = int(entry.stat().st_mtime * 1000)
        found.append(Commit(version, timestamp, operation, tuple(batches), tuple(added)))
    return found


def rows_by_commit(table_dir: Path, columns: list[str]) -> list[tuple[Commit, pa.Table]]:
    """(commit, the rows it added) for every commit that added data files."""
    out = []
    for commit in commits(table_dir):
        parts = []
        for rel in commit.added:
            path = table_dir / _unquote(rel)
            if path.exists():
                schema = pq.read_schema(path)
                wanted = [c for c in columns if c in schema.names]
                parts.append(pq.read_table(path, columns=wanted))
        if parts:
            out.append((commit, pa.concat_tables(parts, promote_options="default")))
    return out


def data_files(table_dir: Path) -> int:
    """Parquet files on disk (live or not yet vacuumed)."""
    return sum(1 for _ in table_dir.rglob("*.parquet")) if table_dir.is_dir() else 0


def _unquote(path: str) -> str:
    from urllib.parse import unquote

    return unquote(path)
