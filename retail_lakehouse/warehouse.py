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

_patch_lock = threading.Lock()
_patch_depth = 0
_patch: Any = None


def emulator_path(settings: Settings) -> Path:
    return Path(settings.warehouse_emulator_path).expanduser().resolve()


@contextlib.contextmanager
def emulated(settings: Settings) -> Iterator[None]:
    """Patch snowflake.connector with fakesnow while inside, when the settings ask for
    the emulator; otherwise do nothing. Re-entrant and shared between threads (fakesnow
    refuses a second patch): the first to enter starts it, the last to leave ends it, so
    two loads can run at once in one process, each on its own connection."""
    global _patch_depth, _patch
    if not settings.uses_warehouse_emulator:
        yield
        return
    with _patch_lock:
        if not _patch_depth:
            import fakesnow

            path = emulator_path(settings)
            path.mkdir(parents=True, exist_ok=True)
            _patch = fakesnow.patch(db_path=path)
            _patch.__enter__()
        _patch_depth += 1
    try:
        yield
    finally:
        with _patch_lock:
            _patch_depth -= 1
            if not _patch_depth and _patch is not None:
                patch, _patch = _patch, None
                patch.__exit__(None, None, None)


class WarehouseSettingsError(ValueError):
    """The SNOWFLAKE_* settings cannot work; the message is one line saying which to set."""


# authenticators that sign in without a user name, or without any secret of ours
_NO_USER_NEEDED = {"OAUTH", "WORKLOAD_IDENTITY"}
_NO_SECRET_NEEDED = {"EXTERNALBROWSER", "WORKLOAD_IDENTITY"}


def check_settings(settings: Settings) -> None:
    """Raise WarehouseSettingsError, before anything connects, when a real account is
    configured without what signing in to it needs. Emulators need nothing."""
    if not settings.snowflake_account:
        return
    authenticator = (settings.snowflake_authenticator or "").upper()
    has_key = bool(settings.snowflake_private_key_file or settings.snowflake_private_key)
    problem = None
    if not settings.snowflake_user and authenticator not in _NO_USER_NEEDED:
        problem = "SNOWFLAKE_USER is not set"
    elif authenticator == "SNOWFLAKE_JWT" and not has_key:
        problem = (
            "SNOWFLAKE_AUTHENTICATOR=SNOWFLAKE_JWT needs SNOWFLAKE_PRIVATE_KEY_FILE "
            "(or SNOWFLAKE_PRIVATE_KEY)"
        )
    elif authenticator in ("OAUTH", "PROGRAMMATIC_ACCESS_TOKEN") and not settings.snowflake_token:
        problem = f"SNOWFLAKE_AUTHENTICATOR={authenticator} needs SNOWFLAKE_TOKEN"
    elif not (
        has_key
        or settings.snowflake_password
        or settings.snowflake_token
        or authenticator in _NO_SECRET_NEEDED
    ):
        problem = (
            "no way to sign in is set: set SNOWFLAKE_PRIVATE_KEY_FILE (key-pair, "
            "recommended), SNOWFLAKE_TOKEN, SNOWFLAKE_AUTHENTICATOR or SNOWFLAKE_PASSWORD"
        )
    elif settings.snowflake_private_key_file and not (
        Path(settings.snowflake_private_key_file).expanduser().is_file()
    ):
        problem = f"SNOWFLAKE_PRIVATE_KEY_FILE {settings.snowflake_private_key_file} is not a file"
    if problem:
        raise WarehouseSettingsError(
            f"Snowflake account {settings.snowflake_account}: {problem} "
            "(in the environment or .env); nothing was run"
        )


def authenticator(settings: Settings) -> str | None:
    """The connector's authenticator: the configured one, else inferred from the
    credential given (a private key -> SNOWFLAKE_JWT, a token alone -> OAUTH)."""
    if settings.snowflake_authenticator:
        return settings.snowflake_authenticator
    if settings.snowflake_private_key_file or settings.snowflake_private_key:
        return "SNOWFLAKE_JWT"
    if settings.snowflake_token and not settings.snowflake_password:
        return "OAUTH"
    return None


def private_key_der(settings: Settings) -> bytes | None:
    """SNOWFLAKE_PRIVATE_KEY (PEM text) as the DER bytes the connector takes; None when
    only a key file (which the connector reads itself) or no key is configured."""
    if not settings.snowflake_private_key:
        return None
    from cryptography.hazmat.primitives import serialization

    passphrase = settings.snowflake_private_key_passphrase
    try:
        key = serialization.load_pem_private_key(
            settings.snowflake_private_key.get_secret_value().encode(),
            password=passphrase.get_secret_value().encode() if passphrase else None,
        )
    except (ValueError, TypeError) as error:
        # the library's text names no secret, but say only what the user can act on
        raise WarehouseSettingsError(
            "SNOWFLAKE_PRIVATE_KEY is not a PEM private key that "
            f"SNOWFLAKE_PRIVATE_KEY_PASSPHRASE opens ({type(error).__name__})"
        ) from None
    return key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def connection_params(settings: Settings, *, schema: str | None = None) -> dict[str, Any]:
    """snowflake.connector.connect() keyword arguments. Secrets stay SecretStr until this
    call and are never logged. An emulator (in-process fakesnow, or a Snowflake-protocol
    server without an account) gets placeholder credentials it ignores; a real account
    gets exactly what is configured, checked first (WarehouseSettingsError)."""
    check_settings(settings)
    params: dict[str, Any] = {
        "database": settings.snowflake_database,
        "schema": schema or settings.snowflake_schema,
        "session_parameters": {"TIMEZONE": "UTC"},
        "login_timeout": settings.snowflake_login_timeout,
        "network_timeout": max(60, settings.snowflake_login_timeout),
    }
    if settings.snowflake_account:
        params["account"] = settings.snowflake_account
        params.update(_credentials(settings))
    else:
        params.update(
            account="emulator",
            user=settings.snowflake_user or "lakehouse",
            password=(
                settings.snowflake_password.get_secret_value()
                if settings.snowflake_password
                else "emulator"
            ),
        )
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


def _credentials(settings: Settings) -> dict[str, Any]:
    """user, authenticator and the one credential it uses, for a real account."""
    found: dict[str, Any] = {}
    if settings.snowflake_user:
        found["user"] = settings.snowflake_user
    method = authenticator(settings)
    if method:
        found["authenticator"] = method
    key = private_key_der(settings)
    if key is not None:
        found["private_key"] = key
    elif settings.snowflake_private_key_file:
        found["private_key_file"] = str(Path(settings.snowflake_private_key_file).expanduser())
        if settings.snowflake_private_key_passphrase:
            found["private_key_file_pwd"] = (
                settings.snowflake_private_key_passphrase.get_secret_value()
            )
    if settings.snowflake_token:
        found["token"] = settings.snowflake_token.get_secret_value()
    if (
        settings.snowflake_password
        and "private_key" not in found
        and ("private_key_file" not in found)
    ):
        found["password"] = settings.snowflake_password.get_secret_value()
    return found


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
