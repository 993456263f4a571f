"""The retrying LakeWriter on real Delta tables: storage errors are waited out, and a
commit that landed but reported failure is never written a second time."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest
from deltalake import CommitProperties, DeltaTable, Transaction, write_deltalake

from retail_lakehouse.settings import Settings
from retail_lakehouse.tables import TableSpec
from spark_streaming.delta_rs_writer import DeltaRsWriter, TableSchemaMismatch
from spark_streaming.lake_writer import BatchTxn, lake_writer_name
from spark_streaming.outage import Outage, OutageTooLongError
from spark_streaming.resilient_writer import (
    ResilientLakeWriter,
    is_transient_storage_error,
    with_outage_retries,
)

SPEC = TableSpec("bronze", "orders", "test orders")
TXN = BatchTxn("orders-query", 7)
ROWS = pa.table({"order_id": ["a", "b", "c"], "amount": [1.5, 2.0, 3.25]})
QUICK = Outage("lake", "/lake", 5.0, "LAKE_OUTAGE_TOLERANCE", 0.01, 0.05)


class NaiveStorage:
    """A LakeWriter that commits with an app transaction but never checks it first,
    and whose storage misbehaves on cue: `refuse` calls fail before writing, and
    `land_then_fail` calls commit and then report a timeout anyway."""

    def __init__(self, root: Path, refuse: int = 0, land_then_fail: int = 0) -> None:
        self.uri = str(root / "orders")
        self.refuse = refuse
        self.land_then_fail = land_then_fail
        self.calls = 0

    def append(self, spec: TableSpec, df: pa.Table, txn: BatchTxn) -> bool:
        self.calls += 1
        if self.refuse:
            self.refuse -= 1
            raise OSError("Generic S3 error: error sending request: connection refused")
        props = CommitProperties(app_transactions=[Transaction(txn.app_id, txn.version)])
        write_deltalake(self.uri, df, mode="append", commit_properties=props)
        if self.land_then_fail:
            self.land_then_fail -= 1
            raise TimeoutError("commit response timed out")
        return True

    def merge(self, spec, df, merge, txn) -> bool:  # pragma: no cover - not exercised
        raise NotImplementedError

    def is_committed(self, spec: TableSpec, txn: BatchTxn) -> bool:
        if not DeltaTable.is_deltatable(self.uri):
            return False
        version = DeltaTable(self.uri).transaction_version(txn.app_id)
        return version is not None and version >= txn.version

    def exists(self, spec: TableSpec) -> bool:
        return DeltaTable.is_deltatable(self.uri)

    def read_arrow(self, spec, columns=None, where=None) -> pa.Table | None:
        return DeltaTable(self.uri).to_pyarrow_table() if self.exists(spec) else None


def sorted_rows(table: pa.Table) -> list[dict]:
    return sorted(table.to_pylist(), key=lambda r: r["order_id"])


def test_a_commit_that_landed_but_reported_failure_is_not_written_twice(tmp_path: Path) -> None:
    storage = NaiveStorage(tmp_path, land_then_fail=1)
    writer = ResilientLakeWriter(storage, QUICK)
    assert writer.append(SPEC, ROWS, TXN) is True
    assert storage.calls == 1  # the retry found the txn and did not write again
    assert sorted_rows(DeltaTable(storage.uri).to_pyarrow_table()) == sorted_rows(ROWS)
    assert DeltaTable(storage.uri).transaction_version(TXN.app_id) == TXN.version


def test_without_the_check_the_same_storage_would_double_the_batch(tmp_path: Path) -> None:
    """The control: retrying blindly is exactly what the wrapper must not do."""
    storage = NaiveStorage(tmp_path, land_then_fail=1)
    with pytest.raises(TimeoutError):
        storage.append(SPEC, ROWS, TXN)
    storage.append(SPEC, ROWS, TXN)
    assert DeltaTable(storage.uri).to_pyarrow_table().num_rows == 2 * ROWS.num_rows


def test_refused_commits_are_retried_until_storage_is_back(tmp_path: Path, caplog) -> None:
    storage = NaiveStorage(tmp_path, refuse=3)
    writer = ResilientLakeWriter(storage, QUICK)
    with caplog.at_level("WARNING"):
        assert writer.append(SPEC, ROWS, TXN) is True
    assert storage.calls == 4
    assert sorted_rows(writer.read_arrow(SPEC)) == sorted_rows(ROWS)
    outage_lines = [r.getMessage() for r in caplog.records if "lake_outage" in r.getMessage()]
    assert len(outage_lines) == 3
    assert "append to bronze.orders (batch 7)" in outage_lines[0]


def test_past_the_lake_budget_the_error_names_the_setting(tmp_path: Path) -> None:
    storage = NaiveStorage(tmp_path, refuse=10_000)
    short = Outage("lake", "s3://bucket/lake", 0.2, "LAKE_OUTAGE_TOLERANCE", 0.02, 0.05)
    with pytest.raises(OutageTooLongError, match=r"lake at s3://bucket/lake unreachable .*"):
        ResilientLakeWriter(storage, short).append(SPEC, ROWS, TXN)
    assert not storage.exists(SPEC)


def test_a_schema_error_is_not_an_outage(tmp_path: Path) -> None:
    class WrongSchema(NaiveStorage):
        def append(self, spec, df, txn) -> bool:
            self.calls += 1
            raise TableSchemaMismatch("the batch has columns the table lacks")

    storage = WrongSchema(tmp_path)
    with pytest.raises(TableSchemaMismatch):
        ResilientLakeWriter(storage, QUICK).append(SPEC, ROWS, TXN)
    assert storage.calls == 1


@pytest.mark.parametrize(
    ("error", "transient"),
    [
        (OSError("Generic S3 error: connection refused"), True),
        (TimeoutError("timed out"), True),
        (TableSchemaMismatch("extra column"), False),
        (KeyError("no column"), False),
        (pa.ArrowInvalid("cannot cast"), False),
    ],
)
def test_which_storage_errors_are_outages(error: Exception, transient: bool) -> None:
    assert is_transient_storage_error(error) is transient


def test_the_streams_wrap_their_writer_once(tmp_path: Path) -> None:
    settings = Settings(lake_root=str(tmp_path / "lake"), lake_outage_tolerance="20 seconds")
    wrapped = with_outage_retries(DeltaRsWriter(settings), settings)
    assert isinstance(wrapped, ResilientLakeWriter)
    assert with_outage_retries(wrapped, settings) is wrapped
    assert wrapped.outage.budget_s == 20.0 and wrapped.outage.setting == "LAKE_OUTAGE_TOLERANCE"
    assert lake_writer_name(wrapped) == "delta-rs"
    assert wrapped.uri(SPEC).endswith("bronze/orders")  # other methods reach the inner writer
