"""Whole-table comparison of Arrow tables, for the writer tests."""

from __future__ import annotations

from collections.abc import Sequence

import pyarrow as pa


def assert_tables_equal(actual: pa.Table | None, expected: pa.Table, keys: Sequence[str]) -> None:
    """Same schema (names, types, order) and the same rows, both sides sorted by `keys`."""
    assert actual is not None, "the table does not exist"
    assert actual.schema.equals(expected.schema), f"{actual.schema}\n!=\n{expected.schema}"
    order = [(k, "ascending") for k in keys]
    assert actual.sort_by(order).to_pylist() == expected.sort_by(order).to_pylist()
