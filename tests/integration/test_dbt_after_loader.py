"""The marts on tables the real loader landed: lake (Delta) -> `load_lake` -> dbt.

The simulated landed rows of landed_warehouse.py are written as Delta tables (the lake's
columns, UTC timestamps), upserted into a fresh fakesnow warehouse by
loaders.lake_to_snowflake.load_lake, and the daily KPI and AOV marts are built on them
and compared with pandas computed from the Delta silver table.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest
from deltalake import DeltaTable, write_deltalake
from kpi_expectations import expected_aov_by_band, expected_daily_kpis, normalized, read_mart
from landed_warehouse import landed_tables, simulate

from loaders.kpi_models import build_kpi_models
from loaders.lake_to_snowflake import load_lake
from retail_lakehouse import lake, tables
from retail_lakehouse.settings import Settings

pytestmark = [pytest.mark.integration, pytest.mark.filterwarnings("ignore::UserWarning")]

# what the marts below read; the loader lands them all
LAKE_TABLES = (tables.SILVER_SALES_LINES, tables.STREAM_BATCHES, tables.STORES)


def _as_lake_table(landed: pd.DataFrame) -> pa.Table:
    frame = landed.drop(columns=["_LOADED_AT", "_DELTA_VERSION"]).rename(columns=str.lower)
    for column in frame.columns:
        if pd.api.types.is_datetime64_any_dtype(frame[column]):
            frame[column] = frame[column].dt.tz_localize("UTC")  # the lake holds UTC instants
    if "latency_sample_ms" in frame.columns:
        # the simulated landing holds JSON text; the lake holds the array the stream wrote
        frame["latency_sample_ms"] = [json.loads(text) for text in frame["latency_sample_ms"]]
        frame = frame.drop(columns=["quarantine_reasons"])
    return pa.Table.from_pandas(frame, preserve_index=False)


def test_daily_kpis_and_aov_on_loader_landed_tables(tmp_path: Path) -> None:
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        lake_root=str(tmp_path / "lake"),
        warehouse_emulator_path=str(tmp_path / "emulator"),
        dbt_artifacts_path=str(tmp_path / "dbt_artifacts"),
    )
    catalog, records = simulate(days=2)
    landed = landed_tables(catalog, records)
    for spec in LAKE_TABLES:
        write_deltalake(lake.uri(settings, spec), _as_lake_table(landed[spec.warehouse_name]))

    report = load_lake(settings, tables=[s.qualified_name for s in LAKE_TABLES], progress=False)
    assert report.rows_inserted == sum(len(landed[s.warehouse_name]) for s in LAKE_TABLES)

    built = build_kpi_models(
        settings,
        select=["+fct_daily_kpis", "+fct_aov_by_discount_band"],
        exclude="resource_type:unit_test",
    )
    assert built.success and built.models_failed == 0 and built.tests_failed == 0

    from_lake = {
        spec.warehouse_name: _naive_upper(DeltaTable(lake.uri(settings, spec)).to_pandas())
        for spec in LAKE_TABLES
    }
    batches = from_lake[tables.STREAM_BATCHES.warehouse_name]
    batches["LATENCY_SAMPLE_MS"] = [
        json.dumps([int(x) for x in v]) for v in batches["LATENCY_SAMPLE_MS"]
    ]
    daily = normalized(read_mart(settings, "fct_daily_kpis"), tables.DAILY_KPIS.columns)
    pd.testing.assert_frame_equal(
        daily.sort_values("kpi_date").reset_index(drop=True),
        expected_daily_kpis(from_lake),
        check_dtype=False,
    )
    expected_bands = expected_aov_by_band(from_lake)
    bands = normalized(read_mart(settings, "fct_aov_by_discount_band"), expected_bands.columns)
    pd.testing.assert_frame_equal(
        bands.sort_values("discount_band").reset_index(drop=True),
        expected_bands.sort_values("discount_band").reset_index(drop=True),
        check_dtype=False,
    )


def _naive_upper(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.rename(columns=str.upper)
    for column in frame.columns:
        if isinstance(frame[column].dtype, pd.DatetimeTZDtype):
            frame[column] = frame[column].dt.tz_convert("UTC").dt.tz_localize(None)
    return frame
