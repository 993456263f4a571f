"""Key-pair sign-in, as a real account needs it, for the loader, dbt and the dashboard.

A local HTTP endpoint answers Snowflake's login request the way Snowflake does: it
verifies the key-pair JWT the real connector sends (RS256, issuer
ACCOUNT.USER.SHA256:<public key fingerprint>) with the public key, records what it saw,
and refuses the session (a full session protocol is beyond a test server). Every client
must have signed with the private key, never sent a password, and said so in one line;
a real account configured without any way to sign in is refused before anything runs.
"""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from pydantic import SecretStr

from loaders.kpi_models import KpiModelsError, build_kpi_models
from retail_lakehouse import warehouse
from retail_lakehouse.settings import Settings

pytestmark = pytest.mark.integration

PASSPHRASE = "Key-Passphrase-5521"
ACCOUNT, USER = "acme-keypair", "loader_svc"


class _LoginEndpoint(BaseHTTPRequestHandler):
    public_key: rsa.RSAPublicKey
    seen: list[dict]

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.headers.get("Content-Encoding") == "gzip":
            import gzip

            body = gzip.decompress(body)
        data = json.loads(body or b"{}").get("data", {})
        record = {
            "path": self.path.split("?")[0],
            "authenticator": data.get("AUTHENTICATOR"),
            "login": data.get("LOGIN_NAME"),
            "has_password": bool(data.get("PASSWORD")),
            "jwt_valid": False,
        }
        token = data.get("TOKEN")
        if token:
            try:
                claims = jwt.decode(token, self.public_key, algorithms=["RS256"])
                record["jwt_valid"] = True
                record["iss"], record["sub"] = claims["iss"], claims["sub"]
            except jwt.PyJWTError as error:
                record["jwt_error"] = str(error)
        self.seen.append(record)
        answer = json.dumps(
            {
                "data": {"nextAction": None, "authnMethod": "KEY_PAIR"},
                "code": "390144",
                "message": "JWT token is invalid.",
                "success": False,
                "headers": None,
            }
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def key(tmp_path_factory) -> tuple[Path, rsa.RSAPrivateKey]:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path = tmp_path_factory.mktemp("keys") / "rsa_key.p8"
    path.write_bytes(
        private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(PASSPHRASE.encode()),
        )
    )
    return path, private


@pytest.fixture
def endpoint(key) -> Iterator[tuple[int, list[dict]]]:
    seen: list[dict] = []
    handler = type("Handler", (_LoginEndpoint,), {"public_key": key[1].public_key(), "seen": seen})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1], seen
    server.shutdown()


def _fingerprint(private: rsa.RSAPrivateKey) -> str:
    der = private.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return "SHA256:" + base64.b64encode(hashlib.sha256(der).digest()).decode()


def _environment(port: int, key_file: Path, tmp_path: Path) -> dict[str, str]:
    return {
        "SNOWFLAKE_ACCOUNT": ACCOUNT,
        "SNOWFLAKE_USER": USER,
        "SNOWFLAKE_PRIVATE_KEY_FILE": str(key_file),
        "SNOWFLAKE_PRIVATE_KEY_PASSPHRASE": PASSPHRASE,
        "SNOWFLAKE_HOST": "127.0.0.1",
        "SNOWFLAKE_PORT": str(port),
        "SNOWFLAKE_PROTOCOL": "http",
        "SNOWFLAKE_LOGIN_TIMEOUT": "10",
        "LAKE_ROOT": str(tmp_path / "lake"),
        "DBT_ARTIFACTS_PATH": str(tmp_path / "dbt"),
    }


def _signed_with_the_key(seen: list[dict], private: rsa.RSAPrivateKey) -> None:
    logins = [r for r in seen if r["path"].endswith("login-request")]
    assert logins, seen
    for login in logins:
        assert login["authenticator"] == "SNOWFLAKE_JWT", login
        assert login["jwt_valid"], login
        assert not login["has_password"], login
        assert login["sub"] == f"{ACCOUNT}.{USER}".upper()
        assert login["iss"] == f"{ACCOUNT}.{USER}".upper() + "." + _fingerprint(private)


def test_the_loader_signs_in_with_the_key_pair(key, endpoint, tmp_path):
    from producer.catalog import build_catalog
    from producer.reference_tables import write_reference_tables

    port, seen = endpoint
    env = _environment(port, key[0], tmp_path)
    write_reference_tables(Settings(_env_file=None, lake_root=env["LAKE_ROOT"]), build_catalog(3))  # type: ignore[call-arg]
    inherited = {
        k: v for k, v in __import__("os").environ.items() if not k.startswith("SNOWFLAKE_")
    }
    done = subprocess.run(
        [sys.executable, "-m", "lakehouse_cli", "load", "--no-progress",
         "--table", "reference.stores"],
        env={**inherited, **env}, capture_output=True, text=True, timeout=120, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 1
    lines = [line for line in done.stderr.splitlines() if "lakehouse load failed" in line]
    assert len(lines) == 1 and "login to" in lines[0], done.stderr[-2000:]
    assert "SNOWFLAKE_PRIVATE_KEY_FILE" in lines[0]
    assert PASSPHRASE not in done.stdout + done.stderr
    _signed_with_the_key(seen, key[1])


def test_dbt_signs_in_with_the_key_pair_and_keeps_the_passphrase_out_of_its_logs(
    key, endpoint, tmp_path
):
    port, seen = endpoint
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        snowflake_account=ACCOUNT,
        snowflake_user=USER,
        snowflake_private_key_file=str(key[0]),
        snowflake_private_key_passphrase=SecretStr(PASSPHRASE),
        snowflake_host="127.0.0.1",
        snowflake_port=port,
        snowflake_protocol="http",
        dbt_artifacts_path=str(tmp_path / "dbt"),
    )
    with pytest.raises(KpiModelsError, match="dbt could not run against Snowflake account"):
        build_kpi_models(settings, select="stg_lake__stores")
    _signed_with_the_key(seen, key[1])
    for log in (tmp_path / "dbt").rglob("*"):
        if log.is_file():
            assert PASSPHRASE not in log.read_text(errors="replace"), log


def test_the_dashboard_connection_signs_in_with_a_key_given_as_text(key, endpoint):
    """The dashboard reads through warehouse.connect; here the key is the PEM itself, as
    a secret manager would hand it over (SNOWFLAKE_PRIVATE_KEY)."""
    from snowflake.connector import errors

    port, seen = endpoint
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        snowflake_account=ACCOUNT,
        snowflake_user=USER,
        snowflake_private_key=SecretStr(key[0].read_text()),
        snowflake_private_key_passphrase=SecretStr(PASSPHRASE),
        snowflake_host="127.0.0.1",
        snowflake_port=port,
        snowflake_protocol="http",
        snowflake_login_timeout=10,
    )
    with pytest.raises(errors.DatabaseError), warehouse.connect(settings):
        pass
    _signed_with_the_key(seen, key[1])
    assert PASSPHRASE not in repr(settings) and "PRIVATE KEY" not in repr(settings)


def test_a_real_account_without_a_way_to_sign_in_is_refused_before_connecting(endpoint, tmp_path):
    port, seen = endpoint
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        snowflake_account=ACCOUNT,
        snowflake_user=USER,
        snowflake_host="127.0.0.1",
        snowflake_port=port,
        snowflake_protocol="http",
        dbt_artifacts_path=str(tmp_path / "dbt"),
    )
    with pytest.raises(KpiModelsError) as refused:
        build_kpi_models(settings)
    message = str(refused.value)
    assert "\n" not in message
    assert f"Snowflake account {ACCOUNT}: no way to sign in is set" in message
    assert "SNOWFLAKE_PRIVATE_KEY_FILE" in message
    with pytest.raises(warehouse.WarehouseSettingsError, match="no way to sign in"):
        warehouse.connection_params(settings)
    assert seen == []  # nothing reached the warehouse
