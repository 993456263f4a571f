"""How long after it was produced a sale is counted in the live marts, measured by
`lakehouse load --follow` after each of its refreshes.

A sale (a silver sales line) is *counted* once a refresh that finished after it landed
has rebuilt `fct_daily_kpis` (every landed line counts there) and, for an on-time sale,
once `fct_product_sales_minute` holds its window with a gold version at least as new
as the sale (the mart row's `updated_at`, the streaming batch's gold commit, is not
before the line's `ingested_at`, that batch's start). Late sales never enter a minute
window; they count once they are in the daily KPIs. Its freshness is the end of that
refresh, read from the warehouse's clock, minus the sale's `produced_at` (the time the
producer sent it, carried through the lake).

Only rows landed since the previous refresh are read (by `_loaded_at`, which rises in
commit order), so a refresh's measuring costs what it landed, not the table's size. With
`produced_from`, sales produced before it (a backfilled history) are landed and counted
in the marts but not measured: their age says how old the history is, not how fresh the
follower keeps the marts.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from retail_lakehouse import tables

if TYPE_CHECKING:
    from snowflake.connector import SnowflakeConnection

# a sale not counted this long after it landed is given up on (and counted as such)
GIVE_UP_AFTER = timedelta(minutes=10)


@dataclass(frozen=True)
class FreshnessSummary:
    """Percentiles of produce-to-counted seconds over the sales measured."""

    sales: int
    p50_s: float | None
    p95_s: float | None
    max_s: float | None
    target_s: float = 60.0

    @classmethod
    def of(cls, seconds: list[float], target_s: float = 60.0) -> FreshnessSummary:
        if not seconds:
            return cls(0, None, None, None, target_s)
        ordered = sorted(seconds)
        return cls(
            len(ordered),
            round(percentile(ordered, 50), 2),
            round(percentile(ordered, 95), 2),
            round(ordered[-1], 2),
            target_s,
        )

    @property
    def meets_target(self) -> bool | None:
        return None if self.p95_s is None else self.p95_s <= self.target_s

    def describe(self) -> str:
        if self.p95_s is None:
            return "no sale measured"
        verdict = "meets" if self.meets_target else "MISSES"
        return (
            f"p50 {self.p50_s:.1f} s, p95 {self.p95_s:.1f} s, max {self.max_s:.1f} s over "
            f"{self.sales} sales ({verdict} the {self.target_s:.0f} s p95 target)"
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {"meets_target": self.meets_target}


def percentile(ordered: list[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default, SQL percentile_cont)."""
    position = (len(ordered) - 1) * q / 100
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


@dataclass
class _Pending:
    produced_at: datetime
    window: tuple[datetime, int] | None  # None: a late sale, in no minute window
    ingested_at: datetime | None
    landed_at: datetime


@dataclass
class LiveMartFreshness:
    """Follows the live marts refresh by refresh; `counted_s` holds one sample per sale."""

    counted_s: list[float] = field(default_factory=list)  # in both live marts
    daily_only_s: list[float] = field(default_factory=list)  # late sales, daily KPIs only
    given_up: int = 0
    produced_from: datetime | None = None  # naive UTC, as the warehouse returns timestamps
    _pending: dict[tuple[str, int], _Pending] = field(default_factory=dict)
    _windows: dict[tuple[datetime, int], datetime] = field(default_factory=dict)
    _lines_after: datetime | None = None
    _windows_after: datetime | None = None

    def after_refresh(self, conn: SnowflakeConnection, analytics_schema: str) -> int:
        """Read what landed since the last refresh and count the sales both live marts
        now hold; returns how many were counted by this refresh."""
        built_at = _warehouse_now(conn)
        self._read_new_lines(conn)
        self._read_new_windows(conn, analytics_schema)
        counted = 0
        for key, sale in list(self._pending.items()):
            if sale.window is None:
                self.daily_only_s.append((built_at - sale.produced_at).total_seconds())
            elif (version := self._windows.get(sale.window)) is not None and (
                sale.ingested_at is None or version >= sale.ingested_at
            ):
                self.counted_s.append((built_at - sale.produced_at).total_seconds())
            elif built_at - sale.landed_at > GIVE_UP_AFTER:
                self.given_up += 1
            else:
                continue
            del self._pending[key]
            counted += 1
        return counted

    def summary(self, target_s: float = 60.0) -> FreshnessSummary:
        return FreshnessSummary.of(self.counted_s, target_s)

    def _read_new_lines(self, conn: SnowflakeConnection) -> None:
        lines = tables.SILVER_SALES_LINES.warehouse_name
        select = (
            "select event_id, line_number, produced_at, ingested_at, event_time, "  # noqa: S608
            f"product_id, is_late, _loaded_at from {lines}"
        )
        rows, self._lines_after = _since(conn, select, self._lines_after)
        for event_id, line, produced, ingested, event_time, product, late, landed in rows:
            if produced is None or (
                self.produced_from is not None and produced < self.produced_from
            ):
                continue
            window = None if late else (_minute(event_time), int(product))
            self._pending[(str(event_id), int(line))] = _Pending(produced, window, ingested, landed)

    def _read_new_windows(self, conn: SnowflakeConnection, analytics_schema: str) -> None:
        mart = f"{analytics_schema}.{tables.PRODUCT_SALES_MINUTE.warehouse_name}"
        rows, self._windows_after = _since(
            conn,
            f"select window_start, product_id, updated_at, loaded_at from {mart}",  # noqa: S608
            self._windows_after,
            cursor="loaded_at",
        )
        for start, product, updated, _loaded in rows:
            key = (start, int(product))
            if updated is not None and (key not in self._windows or updated > self._windows[key]):
                self._windows[key] = updated


def _since(
    conn: SnowflakeConnection, select: str, after: datetime | None, cursor: str = "_loaded_at"
) -> tuple[list[tuple], datetime | None]:
    """Rows of `select` whose cursor column is past `after`, and the new cursor."""
    sql = select + (f" where {cursor} > %(after)s" if after is not None else "")
    with conn.cursor() as cur:
        cur.execute(sql, {"after": after} if after is not None else None)
        rows = list(cur.fetchall())
    newest = max((row[-1] for row in rows if row[-1] is not None), default=after)
    return rows, newest


def _minute(moment: datetime) -> datetime:
    return moment.replace(second=0, microsecond=0)


def _warehouse_now(conn: SnowflakeConnection) -> datetime:
    with conn.cursor() as cur:
        cur.execute("select sysdate()")
        row = cur.fetchone()
    assert row is not None
    return row[0]
