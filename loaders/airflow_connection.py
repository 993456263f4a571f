"""Settings for a DAG task: the environment, overlaid with an Airflow connection.

Airflow users keep warehouse credentials in Airflow connections; everyone else uses
SNOWFLAKE_* variables. A task asks for the connection SNOWFLAKE_CONN_ID (default
`retail_snowflake`) and, when it is defined, its fields win over the environment.
The fields follow the Snowflake provider's conventions: login, password, schema,
and in extra: account, warehouse, database, role (plus host/port for a server).
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

from pydantic import SecretStr

from retail_lakehouse.logs import kv
from retail_lakehouse.settings import Settings

log = logging.getLogger(__name__)

# extra key -> Settings field
_EXTRA_FIELDS = {
    "account": "snowflake_account",
    "warehouse": "snowflake_warehouse",
    "database": "snowflake_database",
    "role": "snowflake_role",
    "analytics_schema": "snowflake_analytics_schema",
    "protocol": "snowflake_protocol",
}


class ConnectionLike(Protocol):
    conn_id: str
    host: str | None
    schema: str | None
    login: str | None
    password: str | None
    port: int | None

    @property
    def extra_dejson(self) -> dict[str, Any]: ...


def settings_with_connection(settings: Settings, conn: ConnectionLike) -> Settings:
    """`settings` with every field the connection sets replaced by the connection's."""
    update: dict[str, Any] = {}
    if conn.login:
        update["snowflake_user"] = conn.login
    if conn.password:
        update["snowflake_password"] = SecretStr(conn.password)
    if conn.schema:
        update["snowflake_schema"] = conn.schema
    if conn.host:
        update["snowflake_host"] = conn.host
    if conn.port:
        update["snowflake_port"] = int(conn.port)
    extra = conn.extra_dejson or {}
    update.update({field: extra[key] for key, field in _EXTRA_FIELDS.items() if extra.get(key)})
    return settings.model_copy(update=update)


def settings_for_task(settings: Settings | None = None) -> Settings:
    """Settings inside a running Airflow task (call only from a task, never at parse)."""
    from airflow.sdk import Connection
    from airflow.sdk.exceptions import AirflowNotFoundException

    settings = settings or Settings()
    try:
        conn = Connection.get(settings.snowflake_conn_id)
    except AirflowNotFoundException:
        log.info(kv("warehouse_from_environment", conn_id=settings.snowflake_conn_id))
        return settings
    log.info(kv("warehouse_from_airflow_connection", conn_id=settings.snowflake_conn_id))
    return settings_with_connection(settings, conn)
