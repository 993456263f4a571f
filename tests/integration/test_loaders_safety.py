"""What the loader refuses and how it says so: duplicate keys, bad identifiers, schema
drift, a bad credential and an unreachable warehouse. The lake here is written with the
project's own reference-table writer and delta-rs; the warehouse is fakesnow, or a real
Snowflake-protocol login failure served from a local HTTP endpoint."""

from __future__ import annotations

import json
import socket
import threading
from datetime import datetime
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pandas as pd
import pyarrow as pa
import pytest
from deltalake import write_deltalake
from loaders_warehouse_frames import lake_frame, loader_state, run_cli, warehouse_frame
from pydantic import SecretStr

from loaders.lake_to_snowflake import LoadError, load_lake
from producer.catalog import build_catalog
from producer.reference_tables import write_reference_tables
from retail_lakehouse import lake, tables, warehouse
from retail_lakehouse.settings import Settings

pytestmark = pytest.mark.integration

SECRET = "Sup3r-Secret-Pw-7781"


@pytest.fixture
def settings(tmp_path) -> Settings:
    values = Settings(
        lake_root=str(tmp_path / "lake"),
        warehouse_emulator_path=str(tmp_path / "warehouse"),
        loader_chunk_rows=2,
    )
    write_reference_tables(values, build_catalog(3))
    return values


def _stores(rows: list[tuple[int, str]]) -> pa.Table:
    return pa.table(
        {
            "store_id": pa.array([r[0] for r in rows], pa.int32()),
            "store_name": pa.array([r[1] for r in rows], pa.string()),
            "opened_at": pa.array([datetime(2026, 1, 2, 3, 4, 5)] * len(rows), pa.timestamp("us")),
            "price": pa.array([Decimal("1.25")] * len(rows), pa.decimal128(12, 2)),
        }
    )


@pytest.mark.parametrize("method", ["write_pandas", "insert"])
def test_duplicate_keys_in_a_batch_keep_the_newest_row(settings, method):
    settings = settings.model_copy(update={"snowflake_stage_method": method})
    uri = lake.uri(settings, tables.STORES)
    # key 1 three times in one file (chunks of 2 rows split them), key 2 once more later
    write_deltalake(
        uri,
        _stores([(1, "first"), (2, "b"), (1, "second"), (1, "third")]),
        mode="overwrite",
        schema_mode="overwrite",
    )
    write_deltalake(uri, _stores([(2, "b-newer")]), mode="append")
    report = load_lake(settings, tables=["reference.stores"], progress=False)
    [load] = report.tables
    assert (load.rows_read, load.rows_inserted, load.rows_updated) == (5, 2, 0)
    landed = warehouse_frame(settings, tables.STORES)
    expected = pd.DataFrame(
        {
            "store_id": [1, 2],
            "store_name": ["third", "b-newer"],
            "opened_at": [datetime(2026, 1, 2, 3, 4, 5)] * 2,
            "price": [Decimal("1.25")] * 2,
        },
        dtype=object,
    )
    pd.testing.assert_frame_equal(landed, expected, check_dtype=False)


def test_reference_tables_land_equal_to_the_lake_with_exact_money(settings):
    load_lake(settings, tables=["reference.stores", "reference.products"], progress=False)
    for spec in (tables.STORES, tables.PRODUCTS):
        pd.testing.assert_frame_equal(
            warehouse_frame(settings, spec), lake_frame(settings, spec), check_dtype=False
        )
    with warehouse.connect(settings) as conn, conn.cursor() as cursor:
        cursor.execute(
            "SELECT DATA_TYPE, NUMERIC_PRECISION, NUMERIC_SCALE FROM INFORMATION_SCHEMA.COLUMNS "
            "WHERE TABLE_NAME = 'REFERENCE_PRODUCTS' AND COLUMN_NAME = 'LIST_PRICE'"
        )
        assert cursor.fetchall() == [("NUMBER", 12, 2)]


@pytest.mark.parametrize(
    "override",
    [{"snowflake_schema": 'RETAIL"; DROP TABLE X; --'}, {"snowflake_database": "lake house"}],
)
def test_a_bad_identifier_is_refused_before_connecting(settings, override):
    with pytest.raises(LoadError, match="refusing SNOWFLAKE_"):
        load_lake(settings.model_copy(update=override), progress=False)
    # refused before connecting: the emulator never even created its folder
    assert not warehouse.emulator_path(settings).exists()


def test_a_bad_lake_column_name_is_refused_naming_the_table(settings):
    bad = pa.table({"store_id": pa.array([1], pa.int32()), "bad name": ["x"]})
    write_deltalake(
        lake.uri(settings, tables.STORES), bad, mode="overwrite", schema_mode="overwrite"
    )
    with pytest.raises(LoadError, match=r"reference\.stores: cannot land.*'bad name'"):
        load_lake(settings, progress=False)


def test_schema_drift_fails_before_anything_is_written(settings):
    load_lake(settings, tables=["reference.stores", "reference.products"], progress=False)
    before = loader_state(settings)
    stores_before = warehouse_frame(settings, tables.STORES, with_loader_columns=True)
    # new rows for stores, and a column products' landed table lacks
    catalog = build_catalog(4)
    write_reference_tables(settings, catalog)
    products = lake_frame(settings, tables.PRODUCTS)
    extra = pa.Table.from_pandas(products.assign(season="winter"), preserve_index=False)
    extra = extra.set_column(
        extra.schema.get_field_index("list_price"),
        "list_price",
        extra["list_price"].cast(pa.decimal128(12, 2)),
    )
    write_deltalake(
        lake.uri(settings, tables.PRODUCTS), extra, mode="overwrite", schema_mode="overwrite"
    )
    result = run_cli(settings, "load", "--no-progress")
    assert result.returncode == 1
    lines = [line for line in result.stderr.splitlines() if "lakehouse load failed" in line]
    assert len(lines) == 1, result.stderr[-2000:]
    assert "reference.products" in lines[0] and "SEASON" in lines[0]
    assert "lakehouse load --full-refresh --table reference.products" in lines[0]
    assert loader_state(settings) == before
    pd.testing.assert_frame_equal(
        warehouse_frame(settings, tables.STORES, with_loader_columns=True), stores_before
    )


class _SnowflakeLoginRejected(BaseHTTPRequestHandler):
    """Answers a login the way Snowflake answers a wrong password."""

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = json.dumps(
            {
                "data": {"nextAction": None, "authnMethod": "USERNAME_PASSWORD"},
                "code": "390100",
                "message": "Incorrect username or password was specified.",
                "success": False,
                "headers": None,
            }
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def rejecting_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _SnowflakeLoginRejected)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()


def _remote(settings: Settings, port: int) -> dict[str, str]:
    return {
        "SNOWFLAKE_HOST": "127.0.0.1",
        "SNOWFLAKE_PORT": str(port),
        "SNOWFLAKE_PROTOCOL": "http",
        "SNOWFLAKE_ACCOUNT": "acme-test",
        "SNOWFLAKE_USER": "loader",
        "SNOWFLAKE_PASSWORD": SECRET,
        "SNOWFLAKE_LOGIN_TIMEOUT": "5",
    }


def test_a_bad_credential_gives_one_clear_line_and_no_secret(settings, rejecting_server):
    result = run_cli(settings, "load", "--no-progress", **_remote(settings, rejecting_server))
    assert result.returncode == 1
    assert SECRET not in result.stdout + result.stderr
    lines = [line for line in result.stderr.splitlines() if "lakehouse load failed" in line]
    assert len(lines) == 1, result.stderr[-2000:]
    assert "silver.sales_lines" in lines[0]
    assert "login" in lines[0] and "SNOWFLAKE_PASSWORD" in lines[0]
    assert "Traceback" not in result.stderr


def test_the_error_and_settings_never_show_the_password(settings, rejecting_server):
    remote = settings.model_copy(
        update={
            "snowflake_host": "127.0.0.1",
            "snowflake_port": rejecting_server,
            "snowflake_protocol": "http",
            "snowflake_account": "acme-test",
            "snowflake_user": "loader",
            "snowflake_password": SecretStr(SECRET),
            "snowflake_login_timeout": 5,
        }
    )
    with pytest.raises(LoadError) as caught:
        load_lake(remote, progress=False)
    assert "login" in str(caught.value)
    for text in (str(caught.value), repr(caught.value), repr(remote), str(remote.model_dump())):
        assert SECRET not in text
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


def test_an_unreachable_warehouse_gives_one_clear_line(settings):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    env = _remote(settings, closed_port) | {"SNOWFLAKE_LOGIN_TIMEOUT": "3"}
    result = run_cli(settings, "load", "--no-progress", **env)
    assert result.returncode == 1
    lines = [line for line in result.stderr.splitlines() if "lakehouse load failed" in line]
    assert len(lines) == 1, result.stderr[-2000:]
    assert "cannot reach" in lines[0] and "SNOWFLAKE_HOST" in lines[0]
    assert SECRET not in result.stdout + result.stderr
