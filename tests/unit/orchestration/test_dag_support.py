"""Failing fast on what would only fail again, and one line (and a webhook) per failure."""

from __future__ import annotations

import json
import os
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace

import pytest

os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="airflow_home_"))

from loaders.dag_support import failure_line, no_retry_when_deterministic, report_failure
from loaders.daily_export import DailyExportError
from loaders.freshness import LakeMissingError, LakeStaleError
from loaders.kpi_models import KpiModelsError
from loaders.lake_to_snowflake import LoadConflictError, LoadError


@pytest.mark.parametrize(
    "error",
    [
        KpiModelsError("dbt build failed: test not_null_fct_daily_kpis_orders"),
        LoadError("reference.products: does not match the lake"),
        LakeMissingError("no streaming tables"),
        DailyExportError("cannot read FCT_DAILY_KPIS"),
    ],
)
def test_a_failure_that_would_repeat_is_not_retried(error):
    from airflow.sdk.exceptions import AirflowFailException

    with pytest.raises(AirflowFailException, match=str(error)), no_retry_when_deterministic():
        raise error


@pytest.mark.parametrize(
    "error",
    [
        KpiModelsError("dbt could not run: 250001 could not connect", retryable=True),
        LoadError("cannot reach Snowflake", retryable=True),
        LoadConflictError("another load moved LOADER_STATE"),
        LakeStaleError("sales last committed 3 min ago"),
        ConnectionResetError("peer reset"),
    ],
)
def test_a_failure_that_may_heal_keeps_its_retries(error):
    with pytest.raises(type(error)), no_retry_when_deterministic():
        raise error


def _context(error: BaseException) -> dict:
    ti = SimpleNamespace(
        dag_id="retail_streaming", task_id="dbt_build", run_id="manual__1", try_number=2
    )
    return {"task_instance": ti, "exception": error}


def test_the_failure_line_names_task_run_try_and_reason():
    line = failure_line(_context(KpiModelsError("dbt build failed on x: y\nmore detail")))
    assert line == (
        "retail_streaming.dbt_build failed (run manual__1, try 2): dbt build failed on x: y"
    )


class _Hook(BaseHTTPRequestHandler):
    received: list[dict] = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.received.append(json.loads(body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


def test_a_failure_is_logged_in_one_line_and_posted_to_the_webhook(monkeypatch, caplog):
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        monkeypatch.setenv("ALERT_WEBHOOK_URL", f"http://127.0.0.1:{server.server_address[1]}/hook")
        with caplog.at_level("ERROR"):
            report_failure(_context(LoadError("reference.products: does not match")))
    finally:
        server.shutdown()
    expected = (
        "retail_streaming.dbt_build failed (run manual__1, try 2): "
        "reference.products: does not match"
    )
    assert _Hook.received == [{"text": expected}]
    assert [r for r in caplog.records if expected in r.getMessage()]


def test_an_unreachable_webhook_never_raises(monkeypatch):
    monkeypatch.setenv("ALERT_WEBHOOK_URL", "http://127.0.0.1:9/closed")
    report_failure(_context(RuntimeError("boom")))
