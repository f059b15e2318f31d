"""Parsing of path and query values that marshmallow does not see."""

from __future__ import annotations

from uuid import UUID

from shared.errors import InvalidInput


def parse_uuid(value: str, field: str) -> UUID:
    """Return value as a UUID; raises InvalidInput('<field>: Invalid uuid')."""
    try:
        return UUID(value)
    except (ValueError, TypeError, AttributeError):
        raise InvalidInput(f"{field}: Invalid uuid") from None
