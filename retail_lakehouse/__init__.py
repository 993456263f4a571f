"""Shared contracts, settings and table catalog for the retail lakehouse.

Every other part (producer, Spark jobs, loaders, DAGs) imports from here and
not from each other, so an event field or a table name is declared once.
"""

from __future__ import annotations

__all__ = ["__version__"]
__version__ = "0.1.0"
