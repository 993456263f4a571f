"""Settings for a DAG task: the environment, overlaid with an Airflow connection.

Airflow users keep warehouse credentials in Airflow connections; everyone else uses
SNOWFLAKE_* variables. A task asks for the connection SNOWFLAKE_CONN_ID (default
`retail_snowflake`) and, when it is defined, reads it through the Snowflake provider's
own hook (apache-airflow-providers-snowflake), so every field that provider documents
works: login, password, schema, and in extra account, warehouse, database, role,
authenticator, private_key_file or private_key_content (the password is then the key's
passphrase), token, refresh_token / OAuth fields. The hook's resolved parameters win
over the environment. Our own extra fields: host, port, protocol (a Snowflake-protocol
server) and analytics_schema.
"""

from __future__ import annotations

import logging
from typing import Any

from pydantic import SecretStr

from retail_lakehouse.logs import kv
from retail_lakehouse.settings import Settings

log = logging.getLogger(__name__)

# hook parameter -> Settings field, for plain values
_PLAIN = {
    "account": "snowflake_account",
    "user": "snowflake_user",
    "warehouse": "snowflake_warehouse",
    "database": "snowflake_database",
    "role": "snowflake_role",
    "schema": "snowflake_schema",
}
# our own extra fields, which the provider does not know
_EXTRA = {
    "analytics_schema": "snowflake_analytics_schema",
    "protocol": "snowflake_protocol",
    "host": "snowflake_host",
    "port": "snowflake_port",
}


def settings_with_hook_params(
    settings: Settings, params: dict[str, Any], extra: dict[str, Any]
) -> Settings:
    """`settings` with every field the hook's connection parameters (and our extra
    fields) set replaced by theirs; secrets stay SecretStr."""
    update: dict[str, Any] = {
        field: params[key] for key, field in _PLAIN.items() if params.get(key)
    }
    authenticator = str(params.get("authenticator") or "")
    if authenticator and authenticator.lower() != "snowflake":
        update["snowflake_authenticator"] = authenticator
    key = params.get("private_key")
    if key:
        # the hook hands over the key decrypted, as DER: keep it as PEM, unencrypted
        update["snowflake_private_key"] = SecretStr(_pem(key))
        update["snowflake_private_key_passphrase"] = None
        update["snowflake_private_key_file"] = None
        update["snowflake_password"] = None
    elif params.get("password"):
        update["snowflake_password"] = SecretStr(str(params["password"]))
    if params.get("token"):
        update["snowflake_token"] = SecretStr(str(params["token"]))
    update.update({field: extra[key] for key, field in _EXTRA.items() if extra.get(key)})
    if "snowflake_port" in update:
        update["snowflake_port"] = int(update["snowflake_port"])
    return Settings.model_validate(settings.model_dump() | update)


def _pem(der: bytes) -> str:
    from cryptography.hazmat.primitives import serialization

    key = serialization.load_der_private_key(der, password=None)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def settings_for_task(settings: Settings | None = None) -> Settings:
    """Settings inside a running Airflow task (call only from a task, never at parse)."""
    from airflow.providers.snowflake.hooks.snowflake import SnowflakeHook
    from airflow.sdk.exceptions import AirflowNotFoundException

    settings = settings or Settings()
    conn_id = settings.snowflake_conn_id
    hook = SnowflakeHook(snowflake_conn_id=conn_id)
    try:
        connection = hook.get_connection(conn_id)
    except AirflowNotFoundException:
        log.info(kv("warehouse_from_environment", conn_id=conn_id))
        return settings
    log.info(kv("warehouse_from_airflow_connection", conn_id=conn_id))
    return settings_with_hook_params(
        settings, hook._get_conn_params(), connection.extra_dejson or {}
    )
