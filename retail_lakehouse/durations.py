"""Durations written the way people write them in settings: '3 minutes', '30 seconds'."""

from __future__ import annotations

import re

_SECONDS_PER_UNIT = {
    "ms": 0.001,
    "millisecond": 0.001,
    "s": 1.0,
    "sec": 1.0,
    "second": 1.0,
    "m": 60.0,
    "min": 60.0,
    "minute": 60.0,
    "h": 3600.0,
    "hour": 3600.0,
    "d": 86400.0,
    "day": 86400.0,
}


def duration_seconds(text: str) -> float:
    """'3 minutes' -> 180.0; a bare number is seconds."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*", text)
    unit = match.group(2).lower() if match else ""
    if unit not in _SECONDS_PER_UNIT and unit.endswith("s"):
        unit = unit[:-1]  # plurals: "minutes", "secs"
    if not match or (unit and unit not in _SECONDS_PER_UNIT):
        raise ValueError(
            f"cannot read duration {text!r}; write it like '3 minutes' or '30 seconds'"
        )
    return float(match.group(1)) * _SECONDS_PER_UNIT.get(unit, 1.0)
