"""Whole-table comparisons live in lake_support; let pytest explain their failures."""

from __future__ import annotations

import pytest

pytest.register_assert_rewrite("lake_support")
