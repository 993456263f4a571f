"""The IANA time zone of a store from its US state, so a store's business day is its
local day: a Los Angeles store's 9 pm sale belongs to that evening, not to the next UTC
date. A state spanning two zones gets the zone most of its people live in."""

from __future__ import annotations

from retail_lakehouse.settings import DEFAULT_WEB_STORE_TIME_ZONE

_ZONE_STATES = {
    "America/New_York": (
        "Connecticut", "Delaware", "Florida", "Georgia", "Indiana", "Kentucky", "Maine",
        "Maryland", "Massachusetts", "Michigan", "New Hampshire", "New Jersey", "New York",
        "North Carolina", "Ohio", "Pennsylvania", "Rhode Island", "South Carolina",
        "Vermont", "Virginia", "West Virginia",
    ),
    "America/Chicago": (
        "Alabama", "Arkansas", "Illinois", "Iowa", "Kansas", "Louisiana", "Minnesota",
        "Mississippi", "Missouri", "Nebraska", "North Dakota", "Oklahoma", "South Dakota",
        "Tennessee", "Texas", "Wisconsin",
    ),
    "America/Denver": ("Colorado", "Idaho", "Montana", "New Mexico", "Utah", "Wyoming"),
    "America/Phoenix": ("Arizona",),
    "America/Los_Angeles": ("California", "Nevada", "Oregon", "Washington"),
    "America/Anchorage": ("Alaska",),
    "Pacific/Honolulu": ("Hawaii",),
}  # fmt: skip
_ZONE_OF_STATE = {state: zone for zone, states in _ZONE_STATES.items() for state in states}


def state_time_zone(state: str) -> str:
    """The zone of a US state; the web store's default for anything else."""
    return _ZONE_OF_STATE.get(state, DEFAULT_WEB_STORE_TIME_ZONE)
