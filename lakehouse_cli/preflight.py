"""Checks a command runs before it starts real work, so a wrong address, a missing
topic, a lake that cannot be written or refused S3 credentials fail in seconds with
one actionable message, instead of minutes of client retries, librdkafka connection
spam and Java stack traces.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from lakehouse_cli.errors import ActionableError
from retail_lakehouse.settings import Settings, is_remote

PROBE_TIMEOUT_S = 5.0
_START_A_BROKER = (
    "start one with `lakehouse broker` and export the KAFKA_BOOTSTRAP_SERVERS it prints, "
    "or fix the address"
)


class _QuietLibrdkafka:
    """librdkafka's log callback: its connection errors go to DEBUG, not to stderr."""

    def __init__(self) -> None:
        self._log = logging.getLogger("librdkafka")

    def log(self, level: int, msg: str, *args: object) -> None:
        self._log.debug(msg, *args)


def kafka_metadata(settings: Settings, timeout_s: float = PROBE_TIMEOUT_S) -> Any:
    """Cluster metadata from a short probe; ActionableError when no broker answers."""
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import AdminClient

    config: dict[str, Any] = {
        **settings.kafka_client_config(),
        "logger": _QuietLibrdkafka(),
        "socket.connection.setup.timeout.ms": int(timeout_s * 1000),
    }
    admin = AdminClient(config)
    try:
        return admin.list_topics(timeout=timeout_s)
    except KafkaException as exc:
        raise ActionableError(
            f"no Kafka broker answered at {settings.kafka_bootstrap_servers} within "
            f"{timeout_s:.0f}s ({exc.args[0].name() if exc.args else exc})",
            _START_A_BROKER,
        ) from exc


def require_broker(settings: Settings) -> None:
    kafka_metadata(settings)


def require_topics(settings: Settings, topics: Iterable[str]) -> None:
    """Every topic exists on the broker (a stream on a missing topic would wait forever)."""
    known = set(kafka_metadata(settings).topics)
    missing = [t for t in topics if t not in known]
    if missing:
        raise ActionableError(
            f"topic(s) {', '.join(repr(t) for t in missing)} missing on "
            f"{settings.kafka_bootstrap_servers}",
            "create the topics with `lakehouse topics` (or `lakehouse produce`), "
            "or fix TOPIC_SALES / TOPIC_CLICKSTREAM / TOPIC_INVENTORY",
        )


def require_writable_lake(settings: Settings) -> None:
    """The lake (and, when local, the checkpoint folder) can be written."""
    root = settings.resolved_lake_root
    if is_remote(root):
        if root.startswith(("s3://", "s3a://")):
            require_s3_access(settings, root)
    else:
        _require_writable_dir(Path(root), "LAKE_ROOT")
    checkpoints = settings.resolved_checkpoint_root
    if not is_remote(checkpoints):
        _require_writable_dir(Path(checkpoints), "CHECKPOINT_ROOT")


def _require_writable_dir(path: Path, setting: str) -> None:
    probe = path / f".write-probe-{uuid.uuid4().hex}"
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise ActionableError(
            f"cannot write to {setting}={path}: {exc.strerror or exc}",
            f"set {setting} to a folder you can write, e.g. {setting}=./lakehouse_data",
        ) from exc


_CREDENTIAL_CODES = {
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "AccessDenied",
    "InvalidToken",
    "ExpiredToken",
    "403",
}


def require_s3_access(settings: Settings, root: str) -> None:
    """One ListObjects call on the lake's bucket and prefix with the configured keys."""
    try:
        import boto3
        from botocore.config import Config
        from botocore.exceptions import BotoCoreError, ClientError
    except ImportError:  # boto3 is optional at run time; delta-rs reports errors itself
        return
    bucket, _, prefix = root.split("://", 1)[1].partition("/")
    secret = settings.aws_secret_access_key
    token = settings.aws_session_token
    client = boto3.client(
        "s3",
        endpoint_url=settings.aws_endpoint_url,
        region_name=settings.aws_region,
        aws_access_key_id=settings.aws_access_key_id,
        aws_secret_access_key=secret.get_secret_value() if secret else None,
        aws_session_token=token.get_secret_value() if token else None,
        config=Config(connect_timeout=5, read_timeout=10, retries={"max_attempts": 1}),
    )
    where = f"{bucket} at {settings.aws_endpoint_url or 'AWS'}"
    try:
        client.list_objects_v2(Bucket=bucket, Prefix=prefix, MaxKeys=1)
    except ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code", ""))
        if code in _CREDENTIAL_CODES:
            raise ActionableError(
                f"S3 refused the credentials for bucket {where} ({code})",
                "check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (and AWS_ENDPOINT_URL for "
                "MinIO) in your environment or .env",
            ) from None
        if code == "NoSuchBucket":
            raise ActionableError(
                f"bucket {where} does not exist",
                "create it (the compose stack's minio-init does) or fix LAKE_ROOT / S3_BUCKET",
            ) from None
        raise ActionableError(
            f"S3 error on bucket {where}: {code}", "check LAKE_ROOT and the AWS_* settings"
        ) from None
    except BotoCoreError as exc:
        raise ActionableError(
            f"cannot reach S3 for bucket {where}: {type(exc).__name__}",
            "check AWS_ENDPOINT_URL and that the S3 service (MinIO) is running",
        ) from None
