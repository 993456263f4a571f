"""The shared package sits at the bottom: retail_lakehouse imports none of the layers
built on it, so the producer, the streaming jobs, the loaders and the CLI can each be
used (and shipped to a cluster) without pulling in the others."""

from __future__ import annotations

import ast
from pathlib import Path

import retail_lakehouse

LAYERS_ABOVE = {"producer", "spark_streaming", "loaders", "mock", "lakehouse_cli", "dashboard",
                "bench", "airflow"}  # fmt: skip
SHARED = Path(retail_lakehouse.__file__).parent


def imported_packages(source: str) -> set[str]:
    """Top-level names of every import in `source`, also those inside functions."""
    names = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_the_checker_sees_imports_inside_functions() -> None:
    source = "import os\ndef f():\n    from producer.run import run_producer\n"
    assert imported_packages(source) == {"os", "producer"}


def test_shared_package_imports_no_layer_above_it() -> None:
    files = sorted(SHARED.rglob("*.py"))
    assert len(files) >= 5
    offenders = {
        str(path.relative_to(SHARED.parent)): sorted(
            imported_packages(path.read_text()) & LAYERS_ABOVE
        )
        for path in files
    }
    assert {k: v for k, v in offenders.items() if v} == {}


ROOT = SHARED.parent
PARTS = ("producer", "spark_streaming", "loaders")  # shipped to a cluster or a worker
ABOVE_THE_PARTS = {"mock", "lakehouse_cli"}  # the local tools and the CLI built on them


def test_parts_import_neither_the_cli_nor_the_local_tools() -> None:
    offenders = {
        str(path.relative_to(ROOT)): sorted(imported_packages(path.read_text()) & ABOVE_THE_PARTS)
        for part in PARTS
        for path in sorted((ROOT / part).rglob("*.py"))
    }
    assert {k: v for k, v in offenders.items() if v} == {}
