"""Identifiers that reach SQL: validated against a strict pattern, then quoted.

Everything that is not an identifier (versions, timestamps, table names stored as
data) is bound as a parameter, never formatted into SQL.
"""

from __future__ import annotations

import re

# unquoted-equivalent Snowflake identifiers: a letter or underscore, then letters,
# digits, underscores or dollar signs; at most 255 characters
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_$]{0,254}")


class BadIdentifierError(ValueError):
    """A configured or derived name is not a plain Snowflake identifier."""


def validated(name: str, *, what: str = "identifier") -> str:
    """The name in UPPERCASE (how Snowflake stores an unquoted name), or an error."""
    if not isinstance(name, str) or not _IDENTIFIER.fullmatch(name):
        raise BadIdentifierError(
            f"refusing {what} {name!r}: use letters, digits and underscores only "
            "(starting with a letter or underscore)"
        )
    return name.upper()


def quoted(name: str, *, what: str = "identifier") -> str:
    """`"NAME"`: validated, upper-cased and double-quoted, so dbt's lowercase unquoted
    references resolve to it and no keyword can be mistaken for it."""
    return f'"{validated(name, what=what)}"'


def qualified(*parts: str) -> str:
    """`"DB"."SCHEMA"."TABLE"` from validated parts."""
    return ".".join(quoted(part) for part in parts)
