"""What a `lakehouse load` did, per table: a dataclass for code and a table for people."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class TableLoad:
    table: str  # the lake's qualified name, e.g. silver.sales_lines
    warehouse_table: str
    from_version: int | None
    to_version: int | None  # None: the lake has no such table yet
    rows_read: int = 0
    rows_inserted: int = 0
    rows_updated: int = 0
    duplicates_dropped: int = 0
    seconds: float = 0.0
    rows_deleted: int = 0
    full_refresh: bool = False  # the table was replaced whole, not changed in place

    @property
    def status(self) -> str:
        if self.to_version is None:
            return "not in lake"
        if self.full_refresh:
            return "reloaded whole"
        if self.from_version == self.to_version:
            return "up to date"
        return "loaded"


@dataclass
class LoadReport:
    tables: list[TableLoad] = field(default_factory=list)

    @property
    def rows_inserted(self) -> int:
        return sum(t.rows_inserted for t in self.tables)

    @property
    def rows_updated(self) -> int:
        return sum(t.rows_updated for t in self.tables)

    @property
    def rows_deleted(self) -> int:
        return sum(t.rows_deleted for t in self.tables)

    def table(self, qualified_name: str) -> TableLoad | None:
        return next((t for t in self.tables if t.table == qualified_name), None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "rows_inserted": self.rows_inserted,
            "rows_updated": self.rows_updated,
            "rows_deleted": self.rows_deleted,
            "tables": [asdict(t) | {"status": t.status} for t in self.tables],
        }

    def render(self) -> str:
        """A fixed-width table for the terminal."""
        header = ("table", "inserted", "updated", "deleted", "delta version", "status")
        rows = [
            (
                t.table,
                str(t.rows_inserted),
                str(t.rows_updated),
                str(t.rows_deleted),
                f"{_v(t.from_version)} -> {_v(t.to_version)}",
                t.status,
            )
            for t in self.tables
        ]
        rows.append(
            (
                "total",
                str(self.rows_inserted),
                str(self.rows_updated),
                str(self.rows_deleted),
                "",
                "",
            )
        )
        widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
        lines = [
            "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows
        ]
        head = "  ".join(c.ljust(w) for c, w in zip(header, widths, strict=True)).rstrip()
        return "\n".join([head, "-" * len(head), *lines]).rstrip()


def _v(version: int | None) -> str:
    return "-" if version is None else str(version)
