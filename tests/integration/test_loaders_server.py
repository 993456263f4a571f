"""The loader through the network, against fakesnow's Snowflake-protocol server: the
connector talks HTTP as it would to an account, and chunks are staged with bound
INSERTs (SNOWFLAKE_STAGE_METHOD=insert), since that server cannot write_pandas."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from loaders_warehouse_frames import lake_frame, loader_state, warehouse_frame

from loaders.lake_to_snowflake import load_lake
from producer.catalog import build_catalog
from producer.reference_tables import write_reference_tables
from retail_lakehouse import tables
from retail_lakehouse.settings import Settings

pytestmark = pytest.mark.integration


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def fakesnow_server(tmp_path):
    port = _free_port()
    fakesnow = Path(sys.executable).with_name("fakesnow")
    server = subprocess.Popen(
        [str(fakesnow), "-s", "-p", str(port)],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError("the fakesnow server did not start") from None
                time.sleep(0.5)
        yield port
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_load_through_the_server_with_insert_staging(tmp_path, fakesnow_server):
    settings = Settings(
        lake_root=str(tmp_path / "lake"),
        snowflake_host="127.0.0.1",
        snowflake_port=fakesnow_server,
        snowflake_protocol="http",
        snowflake_stage_method="insert",
        loader_chunk_rows=64,
    )
    write_reference_tables(settings, build_catalog(3))
    chosen = ["reference.stores", "reference.products"]
    first = load_lake(settings, tables=chosen, progress=False)
    assert [(t.table, t.from_version, t.to_version) for t in first.tables] == [
        ("reference.stores", None, 0),
        ("reference.products", None, 0),
    ]
    for spec in (tables.STORES, tables.PRODUCTS):
        pd.testing.assert_frame_equal(
            warehouse_frame(settings, spec), lake_frame(settings, spec), check_dtype=False
        )
    # the server keeps its session's state: the second run finds nothing new
    again = load_lake(settings, tables=chosen, progress=False)
    assert [t.status for t in again.tables] == ["up to date", "up to date"]
    assert {name: v for name, (v, _, _) in loader_state(settings).items()} == {
        "reference.stores": 0,
        "reference.products": 0,
    }
