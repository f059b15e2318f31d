"""Opaque keyset cursors: what the last row of a page was, so the next page starts right after it.

Pure: no I/O. A cursor is url-safe base64 of a small JSON document; it is opaque to callers but
not secret, so everything read back from one is validated as if it came from the caller (it did).
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from shared.errors import InvalidInput

DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100
INVALID_CURSOR = "cursor: Invalid cursor"


@dataclass(frozen=True)
class Cursor:
    """Where a page ends: the sort it belongs to, the last row's sort value and id, and the total."""

    sort: str
    value: str | datetime | None
    id: UUID
    total: int | None = None


def check_page_size(page_size: int | None) -> int:
    """The page size to use; raises InvalidInput above the maximum or below 1."""
    if page_size is None:
        return DEFAULT_PAGE_SIZE
    if page_size > MAX_PAGE_SIZE:
        raise InvalidInput(f"Page size cannot exceed {MAX_PAGE_SIZE}")
    if page_size < 1:
        raise InvalidInput("page_size: Must be at least 1")
    return page_size


def encode_cursor(cursor: Cursor) -> str:
    """The opaque string a client passes back as `cursor`."""
    value: Any = cursor.value.isoformat() if isinstance(cursor.value, datetime) else cursor.value
    doc = {"s": cursor.sort, "v": value, "t": isinstance(cursor.value, datetime), "i": str(cursor.id),
           "n": cursor.total}
    raw = json.dumps(doc, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(text: str, sort: str, *, time_valued: bool) -> Cursor:
    """Read a cursor made by encode_cursor for this sort (whose values are times or text); raises InvalidInput."""
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        doc = json.loads(raw)
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise InvalidInput(INVALID_CURSOR) from None
    if not isinstance(doc, dict) or set(doc) != {"s", "v", "t", "i", "n"}:
        raise InvalidInput(INVALID_CURSOR)
    if doc["s"] != sort:
        raise InvalidInput("cursor: This cursor belongs to a different sort; start again without a cursor")
    total = doc["n"]
    if total is not None and (not isinstance(total, int) or isinstance(total, bool) or total < 0):
        raise InvalidInput(INVALID_CURSOR)
    try:
        row_id = UUID(doc["i"]) if isinstance(doc["i"], str) else None
        value = _decode_value(doc["v"], doc["t"])
    except ValueError:
        raise InvalidInput(INVALID_CURSOR) from None
    # The value goes into a row comparison with the sort column: its type must be that column's.
    if row_id is None or value is None or isinstance(value, datetime) != time_valued:
        raise InvalidInput(INVALID_CURSOR)
    return Cursor(sort=sort, value=value, id=row_id, total=total)


def _decode_value(value: Any, is_time: Any) -> str | datetime | None:
    if value is None:
        return None
    # The value goes to PostgreSQL, whose text holds neither NUL nor a lone surrogate.
    if not isinstance(value, str) or "\x00" in value or _has_lone_surrogate(value):
        raise ValueError("cursor value")
    if is_time is True:
        moment = datetime.fromisoformat(value)
        if moment.utcoffset() is None:
            raise ValueError("naive time")
        return moment
    if is_time is False:
        return value
    raise ValueError("cursor kind")


def _has_lone_surrogate(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False
