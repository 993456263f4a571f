"""Is the lake fresh enough to load? The newest Delta commit of each stream's tables.

Only the Delta logs are read (`DeltaTable.history(limit=1)`), never a data file, so
the check costs the same on a day-old lake and on a year-old one. A family's lake is
as fresh as the newest commit among its silver and gold tables: a stream commits to
them on every micro-batch that carries data, so a stream that stopped, or a producer
that went quiet, shows up as an old commit.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from retail_lakehouse import lake, tables
from retail_lakehouse.contracts import FAMILIES
from retail_lakehouse.logs import kv
from retail_lakehouse.settings import Settings
from retail_lakehouse.tables import TableSpec

log = logging.getLogger(__name__)


class LakeFreshnessError(RuntimeError):
    """The lake cannot be loaded as it is: missing or stale streaming tables."""

    retryable = False


class LakeMissingError(LakeFreshnessError):
    """A stream has written none of its tables at LAKE_ROOT."""


class LakeStaleError(LakeFreshnessError):
    """A stream's newest commit is older than the allowed age (a restarting stream
    catches up, so a later try may pass)."""

    retryable = True


@dataclass(frozen=True)
class FamilyFreshness:
    family: str
    newest_table: str
    newest_commit_at: datetime
    age_s: float


@dataclass(frozen=True)
class LakeFreshness:
    checked_at: datetime
    max_age_s: float
    families: tuple[FamilyFreshness, ...]

    @property
    def oldest_age_s(self) -> float:
        return max(f.age_s for f in self.families)

    def to_dict(self) -> dict[str, object]:
        return {
            "checked_at": self.checked_at.isoformat(),
            "max_age_s": self.max_age_s,
            "families": {
                f.family: {
                    "newest_table": f.newest_table,
                    "newest_commit_at": f.newest_commit_at.isoformat(),
                    "age_s": round(f.age_s, 1),
                }
                for f in self.families
            },
        }


def streaming_tables(family: str) -> tuple[TableSpec, ...]:
    """The silver and gold tables a family's stream commits to on each batch."""
    return tuple(
        spec
        for spec in tables.ALL_TABLES
        if spec.family == family and spec.layer in ("silver", "gold")
    )


def last_commit_at(settings: Settings, spec: TableSpec) -> datetime | None:
    """When the table's newest Delta commit was written; None when there is no table."""
    from deltalake import DeltaTable

    uri = lake.uri(settings, spec)
    uri = "s3://" + uri.removeprefix("s3a://") if uri.startswith("s3a://") else uri
    options = lake.storage_options(settings)
    if not DeltaTable.is_deltatable(uri, options):
        return None
    history = DeltaTable(uri, storage_options=options).history(limit=1)
    # commitInfo.timestamp: milliseconds since the epoch, written by the committer
    return datetime.fromtimestamp(history[0]["timestamp"] / 1000, tz=UTC)


def check_lake_freshness(
    settings: Settings, max_age_s: float, *, now: datetime | None = None
) -> LakeFreshness:
    """Raise LakeMissingError / LakeStaleError unless every event family's stream has
    committed to its silver or gold tables within `max_age_s`; return what was found."""
    if max_age_s <= 0:
        raise ValueError(f"max_age_s must be positive, got {max_age_s}")
    now = now or datetime.now(UTC)
    found: list[FamilyFreshness] = []
    missing: list[str] = []
    for family in FAMILIES:
        commits = {
            spec.qualified_name: at
            for spec in streaming_tables(family.name)
            if (at := last_commit_at(settings, spec)) is not None
        }
        if not commits:
            missing.append(family.name)
            continue
        newest_table = max(commits, key=lambda name: commits[name])
        newest = commits[newest_table]
        found.append(
            FamilyFreshness(family.name, newest_table, newest, (now - newest).total_seconds())
        )
    root = settings.resolved_lake_root
    if missing:
        raise LakeMissingError(
            f"no streaming tables for {', '.join(missing)} at {root}: start the streams "
            "(`lakehouse stream`) or point LAKE_ROOT at the lake they write."
        )
    result = LakeFreshness(now, max_age_s, tuple(found))
    stale = [f for f in found if f.age_s > max_age_s]
    if stale:
        ages = ", ".join(
            f"{f.family} last committed {_age(f.age_s)} ago ({f.newest_table})" for f in stale
        )
        raise LakeStaleError(
            f"lake at {root} is stale: {ages}; allowed {_age(max_age_s)}. Check that the "
            "streams and the producer are running, or raise the allowed age "
            "(max_lake_age_minutes) to load what is there."
        )
    log.info(kv("lake_fresh", oldest_age_s=result.oldest_age_s, max_age_s=max_age_s))
    return result


def _age(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
