from __future__ import annotations

import socket
from collections.abc import Callable, Iterator

import boto3
import pytest
from moto.server import ThreadedMotoServer

from retail_lakehouse.settings import Settings


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def s3_lake() -> Iterator[Callable[..., Settings]]:
    """A local S3 server (moto) for the module; call the fixture with a bucket name to
    create the bucket and get Settings whose lake lives in it."""
    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"

    def lake_in(bucket: str, **overrides: object) -> Settings:
        boto3.client(
            "s3",
            endpoint_url=endpoint,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            region_name="us-east-1",
        ).create_bucket(Bucket=bucket)
        values: dict[str, object] = {
            "lake_root": f"s3://{bucket}/lake",
            "aws_endpoint_url": endpoint,
            "aws_access_key_id": "testing",
            "aws_secret_access_key": "testing",
            "aws_allow_http": True,
        }
        values.update(overrides)
        return Settings(**values)

    try:
        yield lake_in
    finally:
        server.stop()
