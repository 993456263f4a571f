"""Run the dbt KPI models (`dbt/`) in-process against the configured warehouse.

dbt reads its connection from environment variables (dbt/profiles.yml); this module
derives them from Settings for the length of one invocation, and runs dbt inside
`warehouse.emulated(settings)` so the same models build on a real Snowflake account,
a Snowflake-protocol server, or the in-process fakesnow emulator.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from retail_lakehouse import warehouse
from retail_lakehouse.logs import kv
from retail_lakehouse.settings import Settings

log = logging.getLogger(__name__)

DBT_PROJECT_DIR = Path(__file__).resolve().parent.parent / "dbt"

# dbt statuses per outcome; tests say pass/fail, models success/error
_PASSED = {"success", "pass"}
_FAILED = {"error", "fail", "runtime error"}


class KpiModelsError(RuntimeError):
    """dbt failed: names the failing nodes (or why dbt could not run) and what to do.
    `retryable`: dbt could not reach the warehouse; a failing model or test, a bad
    profile or stale sources fail the same way until someone acts."""

    def __init__(self, message: str, *, retryable: bool = False) -> None:
        super().__init__(message)
        self.retryable = retryable


@dataclass(frozen=True)
class KpiBuildReport:
    success: bool
    elapsed_s: float
    models_passed: int = 0
    models_failed: int = 0
    tests_passed: int = 0
    tests_failed: int = 0
    unit_tests_passed: int = 0
    unit_tests_failed: int = 0
    skipped: int = 0
    warnings: int = 0
    failures: tuple[str, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> str:
        return (
            f"dbt build {'passed' if self.success else 'FAILED'} in {self.elapsed_s:.1f}s: "
            f"models {self.models_passed} ok/{self.models_failed} failed, "
            f"tests {self.tests_passed} ok/{self.tests_failed} failed, "
            f"unit tests {self.unit_tests_passed} ok/{self.unit_tests_failed} failed"
        )


# dbt scrubs the values of DBT_ENV_SECRET_* variables from its logs and artifacts
SECRET_PREFIX = "DBT_ENV_SECRET_"  # noqa: S105 (a variable name prefix, not a secret)


def dbt_environment(settings: Settings) -> dict[str, str | None]:
    """The environment variables dbt/profiles.yml and the sources read; None unsets one,
    so a variable left in the environment cannot contradict the settings. Secrets go in
    DBT_ENV_SECRET_* variables. An emulator gets placeholder credentials it ignores; a
    real account exactly what is configured (checked before, `check_settings`)."""
    emulator = not settings.snowflake_account
    env: dict[str, str | None] = {
        "SNOWFLAKE_ACCOUNT": settings.snowflake_account or "emulator",
        "SNOWFLAKE_DATABASE": settings.snowflake_database,
        "SNOWFLAKE_SCHEMA": settings.snowflake_schema,
        "SNOWFLAKE_ANALYTICS_SCHEMA": settings.snowflake_analytics_schema,
        "SNOWFLAKE_LOGIN_TIMEOUT": str(settings.snowflake_login_timeout),
        "WEB_STORE_TIME_ZONE": settings.web_store_time_zone,
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    }
    password = _secret(settings.snowflake_password)
    optional = {
        "SNOWFLAKE_USER": settings.snowflake_user or ("lakehouse" if emulator else None),
        "SNOWFLAKE_ROLE": settings.snowflake_role,
        "SNOWFLAKE_WAREHOUSE": settings.snowflake_warehouse,
        "SNOWFLAKE_HOST": settings.snowflake_host,
        "SNOWFLAKE_PORT": str(settings.snowflake_port) if settings.snowflake_port else None,
        "SNOWFLAKE_PROTOCOL": settings.snowflake_protocol if settings.snowflake_host else None,
        "SNOWFLAKE_AUTHENTICATOR": None if emulator else dbt_authenticator(settings),
        "SNOWFLAKE_PRIVATE_KEY_FILE": None if emulator else settings.snowflake_private_key_file,
        f"{SECRET_PREFIX}SNOWFLAKE_PASSWORD": password or ("emulator" if emulator else None),
        f"{SECRET_PREFIX}SNOWFLAKE_PRIVATE_KEY": _secret(settings.snowflake_private_key),
        f"{SECRET_PREFIX}SNOWFLAKE_PRIVATE_KEY_PASSPHRASE": _secret(
            settings.snowflake_private_key_passphrase
        ),
        f"{SECRET_PREFIX}SNOWFLAKE_TOKEN": _secret(settings.snowflake_token),
        # never a plain SNOWFLAKE_PASSWORD: dbt would not scrub it
        "SNOWFLAKE_PASSWORD": None,
    }
    env.update({name: value or None for name, value in optional.items()})
    return env


def dbt_authenticator(settings: Settings) -> str | None:
    """dbt-snowflake's name for the sign-in method: a key-pair needs none (dbt hands the
    key to the connector), tokens go through `oauth` / `programmatic_access_token`."""
    method = (warehouse.authenticator(settings) or "").lower()
    return None if method in ("", "snowflake", "snowflake_jwt") else method


def _secret(value: SecretStr | None) -> str | None:
    return value.get_secret_value() if value else None


def dbt_arguments(
    settings: Settings,
    *,
    command: str = "build",
    select: Sequence[str] | str | None = None,
    exclude: Sequence[str] | str | None = None,
    full_refresh: bool = False,
) -> list[str]:
    artifacts = dbt_artifacts_dir(settings)
    args = [
        command,
        "--project-dir",
        str(DBT_PROJECT_DIR),
        "--profiles-dir",
        str(DBT_PROJECT_DIR),
        "--target-path",
        str(artifacts / "target"),
        "--log-path",
        str(artifacts / "logs"),
    ]
    if select:
        args += ["--select", *([select] if isinstance(select, str) else select)]
        # only the tests whose every parent is selected: a relationship test to a mart
        # left out would otherwise fail on a warehouse where that mart was never built
        args += ["--indirect-selection", "cautious"]
    if exclude:
        args += ["--exclude", *([exclude] if isinstance(exclude, str) else exclude)]
    if full_refresh:
        args.append("--full-refresh")
    return args


def dbt_artifacts_dir(settings: Settings) -> Path:
    """Where dbt writes target/ and logs/: DBT_ARTIFACTS_PATH, or git-ignored dirs in dbt/."""
    if settings.dbt_artifacts_path:
        return Path(settings.dbt_artifacts_path).expanduser().resolve()
    return DBT_PROJECT_DIR


def build_kpi_models(
    settings: Settings,
    *,
    select: Sequence[str] | str | None = None,
    full_refresh: bool = False,
    exclude: Sequence[str] | str | None = None,
) -> KpiBuildReport:
    """`dbt build` (models, data tests, unit tests) of the KPI marts, or of the nodes
    `select` picks (dbt selector syntax); raises KpiModelsError naming the failing
    nodes when anything fails."""
    args = dbt_arguments(settings, select=select, exclude=exclude, full_refresh=full_refresh)
    log.info(
        kv(
            "dbt_build_started",
            warehouse=warehouse.describe(settings),
            select=select or "all",
            full_refresh=full_refresh,
        )
    )
    started = time.monotonic()
    result = invoke_dbt(settings, args)
    report = _report(result, time.monotonic() - started)
    log.info(
        kv("dbt_build_finished", **{k: v for k, v in report.to_dict().items() if k != "failures"})
    )
    if not report.success:
        raise KpiModelsError(
            _failure_message(settings, result, report),
            retryable=not report.failures and _unreachable(result),
        )
    return report


def invoke_dbt(settings: Settings, args: list[str], manifest: Any = None) -> Any:
    """One in-process dbt invocation against the configured warehouse (a parsed
    `manifest` skips parsing the project again); the settings are checked first."""
    from dbt.cli.main import dbtRunner

    try:
        warehouse.check_settings(settings)
    except warehouse.WarehouseSettingsError as error:
        raise KpiModelsError(f"dbt was not run: {error}") from None
    with _environment(dbt_environment(settings)), warehouse.emulated(settings):
        return dbtRunner(manifest=manifest).invoke(args)


@dataclass(frozen=True)
class SourceFreshness:
    """`dbt source freshness`: per landed table, the newest _loaded_at and its status."""

    statuses: dict[str, str]  # source table -> pass / warn / error
    max_loaded_at: dict[str, str]

    @property
    def stale(self) -> list[str]:
        return sorted(name for name, status in self.statuses.items() if status != "pass")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {"stale": self.stale}


def check_source_freshness(settings: Settings) -> SourceFreshness:
    """`dbt source freshness` of the landed tables (their _loaded_at against the
    thresholds in _lake__sources.yml); raises KpiModelsError naming the tables past
    their error threshold, logs the ones past their warning threshold."""
    args = dbt_arguments(settings, command="source")
    args.insert(1, "freshness")
    result = invoke_dbt(settings, args)
    statuses: dict[str, str] = {}
    loaded: dict[str, str] = {}
    for node_result in getattr(result.result, "results", None) or ():
        name = node_result.node.unique_id.removeprefix("source.retail_lakehouse.")
        statuses[name] = str(node_result.status)
        loaded[name] = str(getattr(node_result, "max_loaded_at", "") or "")
    freshness = SourceFreshness(statuses, loaded)
    log.info(kv("dbt_source_freshness", stale=",".join(freshness.stale) or "none"))
    errors = [n for n, status in statuses.items() if status in ("error", "runtime error")]
    if errors or (not result.success and not statuses):
        where = warehouse.describe(settings)
        if not statuses:
            reason = str(result.exception or "no source was checked").strip().splitlines()[0]
            raise KpiModelsError(
                f"dbt source freshness could not run against {where}: {reason}",
                retryable=_unreachable(result),
            )
        oldest = min((loaded[n] for n in errors if loaded[n]), default="none")
        raise KpiModelsError(
            f"landed tables on {where} past their freshness error threshold: "
            f"{', '.join(n.removeprefix('lake.') for n in sorted(errors))} (the oldest was "
            f"last loaded {oldest}); check that `lakehouse load` runs and the streams "
            "write the lake"
        )
    return freshness


def _unreachable(result: Any) -> bool:
    """dbt stopped because it could not connect (worth a retry), not on bad input."""
    text = str(getattr(result, "exception", "") or "").lower()
    return any(k in text for k in ("could not connect", "250001", "timed out", "connection"))


def _report(result: Any, elapsed_s: float) -> KpiBuildReport:
    counts: Counter[str] = Counter()
    failures = []
    for node_result in getattr(result.result, "results", None) or ():
        kind = {"model": "models", "test": "tests", "unit_test": "unit_tests"}.get(
            str(node_result.node.resource_type), "other"
        )
        status = str(node_result.status)
        if status in _PASSED:
            counts[f"{kind}_passed"] += 1
        elif status in _FAILED:
            counts[f"{kind}_failed"] += 1
            # dbt's first line names the node, the second says what went wrong
            lines = [line.strip() for line in (node_result.message or "").splitlines()]
            failures.append(f"{node_result.node.unique_id}: {' '.join(lines[:2])}")
        elif status == "skipped":
            counts["skipped"] += 1
        elif status == "warn":
            counts["warnings"] += 1
    return KpiBuildReport(
        success=bool(result.success) and not failures,
        elapsed_s=round(elapsed_s, 2),
        models_passed=counts["models_passed"],
        models_failed=counts["models_failed"],
        tests_passed=counts["tests_passed"],
        tests_failed=counts["tests_failed"],
        unit_tests_passed=counts["unit_tests_passed"],
        unit_tests_failed=counts["unit_tests_failed"],
        skipped=counts["skipped"],
        warnings=counts["warnings"],
        failures=tuple(failures),
    )


def _failure_message(settings: Settings, result: Any, report: KpiBuildReport) -> str:
    where = warehouse.describe(settings)
    if report.failures:
        shown = "; ".join(report.failures[:5])
        more = f" (+{len(report.failures) - 5} more)" if len(report.failures) > 5 else ""
        return (
            f"dbt build failed on {where}: {shown}{more}. "
            f"See {dbt_artifacts_dir(settings) / 'logs' / 'dbt.log'}, fix the model or the "
            "landed data, then rerun `lakehouse models`."
        )
    # dbt could not start: bad profile, unreachable warehouse, a parse error
    reason = str(result.exception or "no node ran").strip().splitlines()[0]
    return (
        f"dbt could not run against {where}: {reason}. Check the SNOWFLAKE_* settings "
        "and that `lakehouse load` has landed the lake tables."
    )


@contextlib.contextmanager
def _environment(values: dict[str, str | None]) -> Iterator[None]:
    """Set environment variables for one dbt invocation, then restore the old ones."""
    saved = {name: os.environ.get(name) for name in values}
    for name, value in values.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    try:
        yield
    finally:
        for name, old in saved.items():
            if old is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = old
