"""A command's named results (Omni's tiles): the one a schedule asks for, an http answer split by key, row caps.

Pure: the content a command returned in, the content to render out. An sql command selects and
caps in the database already; these apply the same choices to any command's content (an http
renderer's JSON, a plugin's rows), so every kind delivers one result or all, and at most
max_row_limit rows of each, the cut stated.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from shared.command_rules import unknown_result
from workers.commands.base import (
    LIMITED_BY_MAX_ROW_LIMIT,
    Blob,
    CommandError,
    Content,
    Document,
    Rows,
    Tile,
    Tiles,
)
from workers.formats import is_json


def select_result(content: Content, query_key: str | None) -> Content:
    """The result query_key names (all of them when None); raises CommandError for a key the content lacks."""
    if query_key is None:
        return content
    if isinstance(content, Tiles):
        for tile in content.tiles:
            if tile.key == query_key:
                return tile.content
    raise CommandError(unknown_result(query_key))


def split_json_results(blob: Blob, keys: Sequence[str], query_key: str | None) -> Tiles:
    """An http renderer's JSON object as one result per declared key (only query_key's when given); raises
    CommandError when the answer is not such an object or lacks a result."""
    wanted = [query_key] if query_key is not None else list(keys)
    declared = ", ".join(keys)
    if not is_json(blob.content_type):
        raise CommandError(f"http command: the response is {blob.content_type}, not the JSON object of results "
                           f"config.result_keys names ({declared})")
    try:
        data = json.loads(blob.body)
    except ValueError:
        raise CommandError(f"http command: the response is not valid JSON, so its results ({declared}) cannot be "
                           "read") from None
    if not isinstance(data, dict):
        raise CommandError(f"http command: the response is a JSON {_json_type(data)}, not an object of the results "
                           f"config.result_keys names ({declared})")
    missing = [key for key in wanted if key not in data]
    if missing:
        raise CommandError(f"http command: the response has no result {', '.join(missing)} "
                           f"(config.result_keys: {declared})")
    # Members beyond the declared keys are the renderer's own (metadata, say): they are not results.
    return Tiles([Tile(key, Document(data[key])) for key in wanted])


def _json_type(data: Any) -> str:
    return {list: "array", str: "string", bool: "boolean", type(None): "null"}.get(type(data), "number")


def limit_rows(content: Content, max_rows: int | None) -> Content:
    """Content with at most max_rows rows per result, each cut result marked (limited_by); text and files that
    are not JSON have no rows and pass unchanged."""
    if max_rows is None:
        return content
    if isinstance(content, Tiles):
        return Tiles([Tile(tile.key, _limit_table(tile.content, max_rows)) for tile in content.tiles])
    if isinstance(content, Rows | Document):
        return _limit_table(content, max_rows)
    if isinstance(content, Blob) and is_json(content.content_type):
        try:
            data = json.loads(content.body)
        except ValueError:
            return content  # the format says what it makes of JSON that does not parse
        if _is_table(data) and len(data) > max_rows:
            return Document(data[:max_rows], LIMITED_BY_MAX_ROW_LIMIT)
    return content


def _is_table(data: Any) -> bool:
    # Rows are a list of objects; any other JSON is one cell (see workers.tabular.as_rows), never cut.
    return isinstance(data, list) and all(isinstance(item, dict) for item in data)


def _limit_table(content: Rows | Document, max_rows: int) -> Rows | Document:
    if isinstance(content, Rows):
        if len(content.rows) <= max_rows:
            return content
        return Rows(content.columns, content.rows[:max_rows], LIMITED_BY_MAX_ROW_LIMIT)
    if _is_table(content.data) and len(content.data) > max_rows:
        return Document(content.data[:max_rows], LIMITED_BY_MAX_ROW_LIMIT)
    return content
