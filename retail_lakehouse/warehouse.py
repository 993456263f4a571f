"""How every part reaches the warehouse: a real Snowflake account, a Snowflake-protocol
server (SNOWFLAKE_HOST, e.g. fakesnow in the compose stack), or the in-process fakesnow
emulator when neither is configured.

The loaders, the dbt runner, the DAG and the dashboard all connect through here, so
pointing the project at a real account is a matter of settings alone.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from retail_lakehouse.settings import Settings

if TYPE_CHECKING:
    from snowflake.connector import SnowflakeConnection

_patch_lock = threading.RLock()
_patch_depth = 0


def emulator_path(settings: Settings) -> Path:
    return Path(settings.warehouse_emulator_path).expanduser().resolve()


@contextlib.contextmanager
def emulated(settings: Settings) -> Iterator[None]:
    """Patch snowflake.connector with fakesnow while inside, when the settings ask for
    the emulator; otherwise do nothing. Re-entrant: fakesnow refuses a second patch."""
    global _patch_depth
    if not settings.uses_warehouse_emulator:
        yield
        return
    with _patch_lock:
        if _patch_depth:
            _patch_depth += 1
            try:
                yield
            finally:
                _patch_depth -= 1
            return
        import fakesnow

        path = emulator_path(settings)
        path.mkdir(parents=True, exist_ok=True)
        with fakesnow.patch(db_path=path):
            _patch_depth = 1
            try:
                yield
            finally:
                _patch_depth = 0


def connection_params(settings: Settings, *, schema: str | None = None) -> dict[str, Any]:
    """snowflake.connector.connect() keyword arguments; the password stays a secret
    until this call and is never logged."""
    params: dict[str, Any] = {
        "account": settings.snowflake_account or "emulator",
        "user": settings.snowflake_user or "lakehouse",
        "password": (
            settings.snowflake_password.get_secret_value()
            if settings.snowflake_password
            else "emulator"
        ),
        "database": settings.snowflake_database,
        "schema": schema or settings.snowflake_schema,
        "session_parameters": {"TIMEZONE": "UTC"},
        "login_timeout": settings.snowflake_login_timeout,
        "network_timeout": max(60, settings.snowflake_login_timeout),
    }
    if settings.snowflake_role:
        params["role"] = settings.snowflake_role
    if settings.snowflake_warehouse:
        params["warehouse"] = settings.snowflake_warehouse
    if settings.snowflake_host:
        params["host"] = settings.snowflake_host
        params["protocol"] = settings.snowflake_protocol
        if settings.snowflake_port:
            params["port"] = settings.snowflake_port
    return params


@contextlib.contextmanager
def connect(settings: Settings, *, schema: str | None = None) -> Iterator[SnowflakeConnection]:
    """A connection to the configured warehouse, closed on exit."""
    with emulated(settings):
        import snowflake.connector

        conn = snowflake.connector.connect(**connection_params(settings, schema=schema))
        try:
            yield conn
        finally:
            conn.close()


def describe(settings: Settings) -> str:
    """Where the warehouse is, for log lines and error messages (never a secret)."""
    if settings.snowflake_account:
        return f"Snowflake account {settings.snowflake_account}"
    if settings.snowflake_host:
        port = f":{settings.snowflake_port}" if settings.snowflake_port else ""
        return f"Snowflake-protocol server {settings.snowflake_host}{port}"
    return f"fakesnow emulator at {emulator_path(settings)}"
