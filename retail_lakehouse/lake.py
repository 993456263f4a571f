"""Where the lake lives and how delta-rs reaches it (local folder, S3 or MinIO)."""

from __future__ import annotations

from retail_lakehouse.settings import Settings, is_remote
from retail_lakehouse.tables import TableSpec, table_uri


def uri(settings: Settings, spec: TableSpec) -> str:
    return table_uri(settings.resolved_lake_root, spec)


def storage_options(settings: Settings) -> dict[str, str]:
    """delta-rs object-store options; empty for a local lake.

    Credentials come only from settings (environment or .env) and are never logged.
    """
    if not is_remote(settings.resolved_lake_root):
        return {}
    options: dict[str, str] = {"AWS_REGION": settings.aws_region}
    if settings.aws_access_key_id:
        options["AWS_ACCESS_KEY_ID"] = settings.aws_access_key_id
    if settings.aws_secret_access_key:
        options["AWS_SECRET_ACCESS_KEY"] = settings.aws_secret_access_key.get_secret_value()
    if settings.aws_session_token:
        options["AWS_SESSION_TOKEN"] = settings.aws_session_token.get_secret_value()
    if settings.aws_endpoint_url:
        options["AWS_ENDPOINT_URL"] = settings.aws_endpoint_url
        # MinIO and other S3-compatible servers rarely do virtual-hosted buckets
        options["AWS_VIRTUAL_HOSTED_STYLE_REQUEST"] = "false"
    if settings.aws_allow_http or (settings.aws_endpoint_url or "").startswith("http://"):
        options["AWS_ALLOW_HTTP"] = "true"
    options["conditional_put"] = "etag"
    return options
