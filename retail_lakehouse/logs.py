"""Structured, grep-friendly log lines: `event=name key=value ...`."""

from __future__ import annotations

import logging
import os
import sys


def configure(level: str | None = None) -> None:
    logging.basicConfig(
        level=(level or os.environ.get("LOG_LEVEL", "INFO")).upper(),
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
        stream=sys.stderr,
        force=True,
    )
    # py4j and librdkafka wrappers are chatty at INFO
    logging.getLogger("py4j").setLevel(logging.WARNING)


def kv(event: str, **fields: object) -> str:
    """Format a log message as `event=<event> k=v ...` with floats rounded."""
    parts = [f"event={event}"]
    for key, value in fields.items():
        if isinstance(value, float):
            value = round(value, 3)
        parts.append(f"{key}={value}")
    return " ".join(parts)
