"""Whole-table comparisons live in batch_support; let pytest explain their failures."""

from __future__ import annotations

import pytest

pytest.register_assert_rewrite("batch_support")
