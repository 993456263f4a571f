"""LOADER_STATE: the last Delta version loaded per lake table, kept in the warehouse.

Every write to a landed table (a load, a full refresh, a date reload) reads the table's
state row (version, LOADED_AT) when it starts and, in the transaction that writes the
rows, moves it on only if it still holds what was read (compare-and-set): of two
writers that started from the same state, the first to commit wins and the other gets
StateConflict and rolls back, having written nothing.

The rows a writer lands are stamped `_LOADED_AT` with the warehouse's clock read after
the state was read (never the client's clock), nudged past the state's own stamp. A
writer starts only from what the previous one committed, so stamps rise in commit order
and a cursor on `_LOADED_AT` (the incremental marts) never skips a row that commits late.

The state is written after the MERGE, in the same transaction: the emulator commits
pending DML when a MERGE starts (it builds a scratch table), so anything written before
the MERGE would outlive a crash; on Snowflake the order makes no difference.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from loaders.identifiers import qualified, quoted
from loaders.upsert import execute
from retail_lakehouse.tables import LOADER_STATE_TABLE

if TYPE_CHECKING:
    from snowflake.connector import SnowflakeConnection

# LOADED_AT of a state row no load has committed to yet
NEVER_LOADED = datetime(1970, 1, 1)

STATE_COLUMNS = (
    ("TABLE_NAME", "VARCHAR"),
    ("DELTA_VERSION", "NUMBER(38,0)"),
    ("ROWS_INSERTED", "NUMBER(38,0)"),
    ("ROWS_UPDATED", "NUMBER(38,0)"),
    ("LOADED_AT", "TIMESTAMP_NTZ"),
)


@dataclass(frozen=True)
class State:
    """A table's state row as a writer found it; version None: nothing loaded."""

    table_name: str
    version: int | None
    loaded_at: datetime | None


class StateConflict(RuntimeError):
    """The state moved while this writer ran; `current` is what it holds now."""

    def __init__(self, started: State, current: State) -> None:
        super().__init__(
            f"{started.table_name}: state moved from {started.version} to {current.version}"
        )
        self.started = started
        self.current = current


def _rows_updated(cursor) -> int:
    """Snowflake answers an UPDATE with a row of counts; rowcount where it does not."""
    try:
        row = cursor.fetchone()
    except Exception:  # no result set
        row = None
    if row and row[0] is not None:
        return int(row[0])
    return int(cursor.rowcount or 0)


def _state(database: str, schema: str) -> str:
    return qualified(database, schema, LOADER_STATE_TABLE)


def ensure_state_table(conn: SnowflakeConnection, database: str, schema: str) -> None:
    columns = ", ".join(f"{quoted(n)} {t}" for n, t in STATE_COLUMNS)
    execute(conn, f"CREATE TABLE IF NOT EXISTS {_state(database, schema)} ({columns})")


def ensure_state_row(
    conn: SnowflakeConnection, database: str, schema: str, table_name: str
) -> None:
    """A row to compare-and-set against: version NULL until the first load commits,
    LOADED_AT the epoch (never NULL: the emulator's server answers a NULL timestamp as
    the epoch, which would then never compare equal). A MERGE, so two writers creating
    it at once leave one row."""
    execute(
        conn,
        f"MERGE INTO {_state(database, schema)} AS t "  # noqa: S608 (quoted)
        'USING (SELECT %(table_name)s AS "TABLE_NAME") AS s '
        'ON t."TABLE_NAME" = s."TABLE_NAME" '
        'WHEN NOT MATCHED THEN INSERT ("TABLE_NAME", "LOADED_AT") '
        'VALUES (s."TABLE_NAME", %(never)s)',
        {"table_name": table_name, "never": NEVER_LOADED},
    )


def read_state(conn: SnowflakeConnection, database: str, schema: str, table_name: str) -> State:
    rows = execute(
        conn,
        f'SELECT "DELTA_VERSION", "LOADED_AT" FROM {_state(database, schema)} '  # noqa: S608
        'WHERE "TABLE_NAME" = %(table_name)s',
        {"table_name": table_name},
    )
    if not rows:
        return State(table_name, None, None)
    version, loaded_at = rows[0]
    return State(table_name, None if version is None else int(version), loaded_at)


def stamp(conn: SnowflakeConnection, after: State) -> datetime:
    """The warehouse's clock now (SYSDATE(): UTC, TIMESTAMP_NTZ), and never at or before
    the stamp of the state this writer started from."""
    now: datetime = execute(conn, "SELECT SYSDATE()")[0][0]
    if after.loaded_at is not None and now <= after.loaded_at:
        now = after.loaded_at + timedelta(microseconds=1)
    return now


def advance(
    conn: SnowflakeConnection,
    database: str,
    schema: str,
    *,
    started: State,
    to_version: int | None,
    loaded_at: datetime,
    inserted: int = 0,
    updated: int = 0,
) -> None:
    """Inside the caller's transaction: move the state from `started` to `to_version`
    stamped `loaded_at`; raise StateConflict when it no longer holds `started`."""
    with conn.cursor() as cursor:
        cursor.execute(
            f'UPDATE {_state(database, schema)} SET "DELTA_VERSION" = %(to_version)s, '  # noqa: S608
            '"LOADED_AT" = %(loaded_at)s, "ROWS_INSERTED" = %(inserted)s, '
            '"ROWS_UPDATED" = %(updated)s '
            'WHERE "TABLE_NAME" = %(table_name)s '
            'AND ("DELTA_VERSION" = %(version)s OR ("DELTA_VERSION" IS NULL AND '
            "%(version)s IS NULL)) "
            'AND ("LOADED_AT" = %(was_loaded_at)s OR ("LOADED_AT" IS NULL AND '
            "%(was_loaded_at)s IS NULL))",
            {
                "table_name": started.table_name,
                "version": started.version,
                "was_loaded_at": started.loaded_at,
                "to_version": to_version,
                "loaded_at": loaded_at,
                "inserted": inserted,
                "updated": updated,
            },
        )
        moved = _rows_updated(cursor)
    if moved != 1:
        raise StateConflict(started, read_state(conn, database, schema, started.table_name))
