"""Reading landed warehouse tables and lake tables as comparable pandas frames, for the
loader tests. The expectation side is the Delta table itself (read through delta-rs),
never the loader's code."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime

import pandas as pd
from deltalake import DeltaTable

from retail_lakehouse import lake, warehouse
from retail_lakehouse.settings import Settings
from retail_lakehouse.tables import LOADER_STATE_TABLE, TableSpec
from spark_streaming.delta_rs_writer import DeltaRsWriter

LOADER_COLUMNS = ("_loaded_at", "_delta_version")


def _plain(value):
    """tz-aware UTC datetimes as naive UTC, like TIMESTAMP_NTZ holds them."""
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(UTC).replace(tzinfo=None)
    return value


def _frame(rows: list[tuple], columns: list[str], keys: tuple[str, ...]) -> pd.DataFrame:
    frame = pd.DataFrame([[_plain(v) for v in row] for row in rows], columns=columns, dtype=object)
    return frame.sort_values(list(keys)).reset_index(drop=True)


def lake_frame(settings: Settings, spec: TableSpec) -> pd.DataFrame:
    table = DeltaRsWriter(settings).read_arrow(spec)
    assert table is not None, f"{spec.qualified_name} is not in the lake"
    rows = list(zip(*(c.to_pylist() for c in table.columns), strict=True))
    return _frame(rows, table.column_names, spec.natural_keys)


def warehouse_frame(
    settings: Settings, spec: TableSpec, *, with_loader_columns: bool = False
) -> pd.DataFrame:
    with warehouse.connect(settings) as conn, conn.cursor() as cursor:
        cursor.execute(f'SELECT * FROM "{spec.warehouse_name}"')
        columns = [d.name.lower() for d in cursor.description]
        rows = cursor.fetchall()
    frame = _frame(rows, columns, spec.natural_keys)
    if with_loader_columns:
        return frame
    return frame.drop(columns=list(LOADER_COLUMNS))


def loader_state(settings: Settings) -> dict[str, tuple[int, int, int]]:
    """table -> (delta version, rows inserted, rows updated), for the tables a load has
    committed (a state row whose version is still NULL records nothing)."""
    with warehouse.connect(settings) as conn, conn.cursor() as cursor:
        cursor.execute(
            "SELECT TABLE_NAME, DELTA_VERSION, ROWS_INSERTED, ROWS_UPDATED "
            f"FROM {LOADER_STATE_TABLE}"
        )
        return {
            name: (int(v), int(i or 0), int(u or 0))
            for name, v, i, u in cursor.fetchall()
            if v is not None
        }


def delta_version(settings: Settings, spec: TableSpec) -> int:
    return DeltaTable(lake.uri(settings, spec)).version()


def run_cli(settings: Settings, *args: str, **env: str) -> subprocess.CompletedProcess:
    """`lakehouse <args>` in a fresh process with the settings as environment variables."""
    inherited = {
        k: v
        for k, v in os.environ.items()
        if not k.upper().startswith(("SNOWFLAKE_", "LAKE_", "LOADER_", "WAREHOUSE_"))
    }
    values = {
        **inherited,
        "LAKE_ROOT": settings.lake_root,
        "WAREHOUSE_EMULATOR_PATH": settings.warehouse_emulator_path,
        "SNOWFLAKE_STAGE_METHOD": settings.snowflake_stage_method,
        "LOADER_CHUNK_ROWS": str(settings.loader_chunk_rows),
        **env,
    }
    return subprocess.run(
        [sys.executable, "-m", "lakehouse_cli", *args],
        env=values,
        capture_output=True,
        text=True,
        timeout=300,
        cwd=os.path.dirname(settings.warehouse_emulator_path),
        check=False,
    )
