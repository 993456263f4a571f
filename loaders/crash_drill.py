"""Recovery drill for the loader: exit abruptly at a chosen point of one table's load.

LOADER_CRASH_AFTER=stage:silver.sales_lines exits (like `kill -9`) after that table's
changes are staged and before its MERGE; `merge:<table>` exits after the MERGE and
before the commit that also records the Delta version. A rerun must converge to the
warehouse a clean load builds; tests/integration/test_loaders_recovery.py does that.
"""

from __future__ import annotations

import logging
import os

from retail_lakehouse.logs import kv

ENV_VAR = "LOADER_CRASH_AFTER"
PHASES = ("stage", "merge")
log = logging.getLogger(__name__)


def maybe_crash(phase: str, table: str) -> None:
    target = os.environ.get(ENV_VAR)
    if not target:
        return
    wanted_phase, _, wanted_table = target.partition(":")
    if wanted_phase not in PHASES or not wanted_table:
        raise ValueError(f"{ENV_VAR} must look like 'stage:silver.sales_lines', got {target!r}")
    if (wanted_phase, wanted_table) == (phase, table):
        log.warning(kv("loader_crash_drill", phase=phase, table=table))
        logging.shutdown()
        os._exit(137)
