"""What the Airflow DAG adds around the pipeline steps: failing at once (no retry) on a
failure that would only repeat, and one clear line when a task fails.

Imported only inside tasks and callbacks, never at DAG parse time.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from retail_lakehouse.logs import kv
from retail_lakehouse.settings import Settings

log = logging.getLogger(__name__)


def is_retryable(error: BaseException) -> bool:
    """A named pipeline error says whether a retry can help; anything else (a network
    hiccup deep in a client library) gets the task's retries."""
    return bool(getattr(error, "retryable", True))


@contextmanager
def no_retry_when_deterministic() -> Iterator[None]:
    """Turn a pipeline error that would fail the same way again (a failing dbt test,
    bad credentials, schema drift, a missing mart) into AirflowFailException, which
    Airflow does not retry; retryable ones propagate to the task's retries."""
    from airflow.sdk.exceptions import AirflowFailException

    from loaders.warehouse_pipeline import user_facing_errors

    try:
        yield
    except user_facing_errors() as error:
        if is_retryable(error):
            raise
        raise AirflowFailException(str(error)) from None


def failure_line(context: dict[str, Any]) -> str:
    """One line: which task of which run failed, on which try, and why."""
    ti = context.get("task_instance") or context.get("ti")
    dag_id = getattr(ti, "dag_id", "?")
    task_id = getattr(ti, "task_id", "?")
    run_id = getattr(ti, "run_id", "?")
    tries = getattr(ti, "try_number", "?")
    error = context.get("exception")
    reason = (str(error).strip().splitlines() or [type(error).__name__])[0] if error else "?"
    return f"{dag_id}.{task_id} failed (run {run_id}, try {tries}): {reason[:500]}"


def report_failure(context: dict[str, Any]) -> None:
    """on_failure_callback: log the failure in one line and, when ALERT_WEBHOOK_URL is
    set, POST it there as {"text": line} (Slack and Teams incoming webhooks take that).
    A failing notification is logged, never raised: the task has failed already."""
    line = failure_line(context)
    log.error(kv("task_failed", line=line))
    url = Settings().alert_webhook_url
    if url is None:
        return
    import httpx

    try:
        httpx.post(url.get_secret_value(), json={"text": line}, timeout=10).raise_for_status()
    except httpx.HTTPError as error:
        log.warning(kv("failure_notification_not_sent", error=type(error).__name__))
