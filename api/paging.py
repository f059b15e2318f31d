"""Pages of keyset-listed rows: the records, and page_info with an opaque next cursor."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, TypeVar
from uuid import UUID

from shared.paging import Cursor, check_page_size, decode_cursor, encode_cursor

T = TypeVar("T")


def read_cursor(args: dict[str, Any], sort: str, *, time_valued: bool = True) -> tuple[int, Cursor | None]:
    """The page size and the decoded cursor of a listing request; raises InvalidInput."""
    size = check_page_size(args.get("page_size"))
    cursor = decode_cursor(args["cursor"], sort, time_valued=time_valued) if args.get("cursor") else None
    return size, cursor


def build_page(rows: Sequence[T], size: int, sort: str, total: int,
               key: Callable[[T], tuple[str | datetime, UUID]]) -> dict[str, Any]:
    """The response body for rows fetched with limit size + 1 (the extra row says there is more)."""
    records = list(rows[:size])
    has_next = len(rows) > size
    next_cursor = None
    if has_next:
        value, row_id = key(records[-1])
        next_cursor = encode_cursor(Cursor(sort=sort, value=value, id=row_id, total=total))
    return {
        "page_info": {"has_next_page": has_next, "next_cursor": next_cursor, "page_size": size,
                      "total_records": total},
        "records": records,
    }


def keyset(cursor: Cursor | None) -> tuple[Any, UUID] | None:
    """The (value, id) a query continues after, or None for the first page."""
    return (cursor.value, cursor.id) if cursor else None
