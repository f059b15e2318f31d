"""Content as a table of cells or as plain text: what every format renders from.

Also the bundled typeface (DejaVu Sans, from Debian's fonts-dejavu-core, licence beside it) that
the PDF and PNG formats draw with, so that text beyond Latin-1 renders without system fonts.
"""

from __future__ import annotations

import datetime as dt
import decimal
import html.parser
import json
import re
import uuid
from pathlib import Path
from typing import Any

from workers.commands.base import LIMITED_BY_ROW_LIMIT, Document, Rows, Tiles

FONTS = Path(__file__).parent / "fonts"
REGULAR_FONT = FONTS / "DejaVuSans.ttf"
BOLD_FONT = FONTS / "DejaVuSans-Bold.ttf"

_CONTROLS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")

# A table to draw: its heading (a result key; None for a command's one result) and its rows.
Table = tuple[str | None, Rows]


def json_default(value: Any) -> Any:
    """The JSON form of the values commands return that json cannot encode itself."""
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal | uuid.UUID):
        return str(value)
    if isinstance(value, bytes | memoryview):
        return bytes(value).hex()
    return str(value)


def as_rows(content: Rows | Document) -> Rows:
    """A table for any content: a list of objects is one row each, an object one row, anything else one cell."""
    if isinstance(content, Rows):
        return content
    data = content.data
    if isinstance(data, list) and all(isinstance(item, dict) for item in data):
        columns = list(dict.fromkeys(k for item in data for k in item))
        return Rows(columns, [tuple(item.get(c) for c in columns) for item in data], content.limited_by)
    if isinstance(data, dict):
        return Rows(list(data), [tuple(data.values())])
    return Rows(["value"], [(data,)])


def as_tables(content: Rows | Document | Tiles) -> list[Table]:
    """The tables to draw: one per result key, or the one result's without a heading."""
    if isinstance(content, Tiles):
        return [(tile.key, as_rows(tile.content)) for tile in content.tiles]
    return [(None, as_rows(content))]


def cut_note(rows: Rows) -> str | None:
    """What a drawn table says when its result was cut before it was rendered (None: nothing was cut)."""
    if rows.limited_by is None:
        return None
    setting = "the command's row_limit" if rows.limited_by == LIMITED_BY_ROW_LIMIT else rows.limited_by
    count = len(rows.rows)
    return f"Result cut to its first {count:,} row{'s' if count != 1 else ''} by {setting}; it has more."


def row_shares(counts: list[int], budget: int) -> list[int]:
    """How many rows of each table a format with room for `budget` rows in all shows: in order, each table
    taking at most an even share of what is left, so a short table leaves its room to the next (pure)."""
    shares = []
    for index, count in enumerate(counts):
        share = min(count, budget // (len(counts) - index))
        shares.append(share)
        budget -= share
    return shares


def cell_text(value: Any) -> str:
    """The text a cell shows: empty for null, JSON for objects and lists."""
    if value is None:
        return ""
    if isinstance(value, dict | list):
        return json.dumps(value, default=json_default)
    return value if isinstance(value, str) else str(json_default(value))


def drawable(text: str) -> str:
    """Text safe to draw: no control characters (tabs become spaces, line separators newlines), no lone surrogates."""
    text = text.replace("\t", " ").replace("\r\n", "\n").replace("\r", "\n")
    text = text.replace("\u2028", "\n").replace("\u2029", "\n")
    return _CONTROLS.sub("", text.encode("utf-8", "replace").decode("utf-8"))


def shortened(text: str, limit: int) -> str:
    """`text` cut to `limit` characters, an ellipsis marking the cut."""
    return text if len(text) <= limit else text[: max(limit - 1, 0)] + "\u2026"


class _TextOnly(html.parser.HTMLParser):
    _BREAKS = frozenset({"br", "p", "div", "tr", "li", "h1", "h2", "h3", "h4", "h5", "h6", "table"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style", "head"):
            self._hidden += 1
        elif tag in self._BREAKS:
            self.parts.append("\n")
        elif tag == "td" or tag == "th":
            self.parts.append("  ")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style", "head"):
            self._hidden = max(self._hidden - 1, 0)
        elif tag in self._BREAKS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._hidden:
            self.parts.append(re.sub(r"\s+", " ", data))


def html_to_text(markup: str) -> str:
    """The readable text of an HTML fragment (tags dropped, blocks on their own lines)."""
    parser = _TextOnly()
    parser.feed(markup)
    parser.close()
    lines = (line.strip() for line in "".join(parser.parts).splitlines())
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
