"""The png format: a command's table or text drawn as one image with Pillow (no browser)."""

from __future__ import annotations

import io
from collections.abc import Mapping
from typing import Any

from PIL import Image, ImageDraw, ImageFont

from workers.commands.base import Rows
from workers.tabular import BOLD_FONT, REGULAR_FONT, Table, cell_text, cut_note, drawable, row_shares, shortened

DEFAULT_WIDTH = 1200
MAX_ROWS = 100  # in all its tables: one image is a glance, not a listing; a note says how many rows were left out
MAX_TEXT_LINES = 300
_BODY_PX = 14
_TITLE_PX = 24
_HEADING_PX = 18
_ROW_HEIGHT = 24
_PADDING = 6
_MARGIN = 16
_MAX_CELL_CHARS = 300
_MIN_COLUMN = 40
_INK = (33, 37, 41)
_MUTED = (108, 117, 125)
_GRID = (206, 212, 218)
_HEADER_FILL = (233, 236, 239)
_WHITE = (255, 255, 255)

Font = ImageFont.FreeTypeFont


def render_png(content: Rows | list[Table] | str, options: Mapping[str, Any], title: str) -> bytes:
    """A PNG of the table, or of a table per key under it as a heading (MAX_ROWS rows in all), or of the text,
    `width` pixels wide, titled unless `hide_title`."""
    width = int(options.get("width", DEFAULT_WIDTH))
    regular = ImageFont.truetype(str(REGULAR_FONT), _BODY_PX)
    bold = ImageFont.truetype(str(BOLD_FONT), _BODY_PX)
    title_font = ImageFont.truetype(str(BOLD_FONT), _TITLE_PX)
    heading = [] if options.get("hide_title") or not title else _wrap(title_font, drawable(title),
                                                                      width - 2 * _MARGIN, 3)
    top = _MARGIN + len(heading) * (_TITLE_PX + 8) + (8 if heading else 0)
    if isinstance(content, str):
        lines = _text_lines(regular, drawable(content), width - 2 * _MARGIN)
        height = top + len(lines) * _ROW_HEIGHT + _MARGIN
        image, draw = _canvas(width, height)
        for index, line in enumerate(lines):
            draw.text((_MARGIN, top + index * _ROW_HEIGHT), line, font=regular, fill=_INK)
    else:
        blocks = _blocks([(None, content)] if isinstance(content, Rows) else content)
        height = top + sum(_block_height(block) for block in blocks) + _MARGIN
        image, draw = _canvas(width, height)
        heading_font = ImageFont.truetype(str(BOLD_FONT), _HEADING_PX)
        for block in blocks:
            top = _draw_block(draw, (regular, bold, heading_font), block, top, width - 2 * _MARGIN)
    for index, line in enumerate(heading):
        draw.text((_MARGIN, _MARGIN + index * (_TITLE_PX + 8)), line, font=title_font, fill=_INK)
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()


# One table as drawn: its heading (a result key, or None), its rows, the rows shown and the notes under it.
_Block = tuple[str | None, Rows, list[tuple[Any, ...]], list[str]]


def _blocks(tables: list[Table]) -> list[_Block]:
    shares = row_shares([len(rows.rows) for _, rows in tables], MAX_ROWS)
    return [(key, rows, rows.rows[:share], _table_notes(rows, share, several=len(tables) > 1))
            for (key, rows), share in zip(tables, shares, strict=True)]


def _block_height(block: _Block) -> int:
    key, _, shown, notes = block
    return ((_HEADING_PX + 12) if key is not None else 0) + (len(shown) + 1 + len(notes)) * _ROW_HEIGHT + 8


def _draw_block(draw: ImageDraw.ImageDraw, fonts: tuple[Font, Font, Font], block: _Block, top: int,
                width: int) -> int:
    """Draw one table with its heading and notes from `top`; return where the next one starts."""
    regular, bold, heading_font = fonts
    key, rows, shown, notes = block
    if key is not None:
        draw.text((_MARGIN, top), _fitted(heading_font, drawable(key), width), font=heading_font, fill=_INK)
        top += _HEADING_PX + 12
    _draw_table(draw, (regular, bold), rows.columns, shown, top, width)
    for index, note in enumerate(notes):
        draw.text((_MARGIN, top + (len(shown) + 1 + index) * _ROW_HEIGHT + 8), note, font=regular, fill=_MUTED)
    return top + _block_height(block) - ((_HEADING_PX + 12) if key is not None else 0)


def _canvas(width: int, height: int) -> tuple[Image.Image, ImageDraw.ImageDraw]:
    image = Image.new("RGB", (width, height), _WHITE)
    return image, ImageDraw.Draw(image)


def _table_notes(rows: Rows, shown: int, *, several: bool = False) -> list[str]:
    if not rows.columns:
        return ["No results."]
    notes = []
    if not rows.rows:
        notes.append("No rows.")
    elif len(rows.rows) > shown:
        left_out = len(rows.rows) - shown
        notes.append(f"{left_out:,} more row{'s' if left_out != 1 else ''} not shown (an image shows at most "
                     f"{MAX_ROWS} rows{' in all its tables' if several else ''}; csv, xlsx and pdf hold them all).")
    note = cut_note(rows)
    return [*notes, note] if note else notes


def _draw_table(draw: ImageDraw.ImageDraw, fonts: tuple[Font, Font], columns: list[str],
                rows: list[tuple[Any, ...]], top: int, width: int) -> None:
    if not columns:
        return
    regular, bold = fonts
    header = [drawable(str(column)).replace("\n", " ") for column in columns]
    body = [[shortened(drawable(cell_text(value)), _MAX_CELL_CHARS).replace("\n", " ") for value in row]
            for row in rows]
    widths = _column_widths(regular, bold, header, body, width)
    draw.rectangle((_MARGIN, top, _MARGIN + sum(widths), top + _ROW_HEIGHT), fill=_HEADER_FILL)
    for row_index, cells in enumerate([header, *body]):
        y = top + row_index * _ROW_HEIGHT
        x = _MARGIN
        font = bold if row_index == 0 else regular
        for cell, column_width in zip([*cells, *[""] * len(widths)], widths, strict=False):
            draw.text((x + _PADDING, y + (_ROW_HEIGHT - _BODY_PX) // 2 - 1),
                      _fitted(font, cell, column_width - 2 * _PADDING), font=font, fill=_INK)
            x += column_width
        draw.line((_MARGIN, y + _ROW_HEIGHT, _MARGIN + sum(widths), y + _ROW_HEIGHT), fill=_GRID)
    bottom = top + (len(body) + 1) * _ROW_HEIGHT
    x = _MARGIN
    for column_width in [0, *widths]:
        x += column_width
        draw.line((x, top, x, bottom), fill=_GRID)
    draw.line((_MARGIN, top, _MARGIN + sum(widths), top), fill=_GRID)


def _column_widths(regular: Font, bold: Font, header: list[str], body: list[list[str]], width: int) -> list[int]:
    """Natural widths (the widest text, capped) shrunk in proportion when they do not fit."""
    natural = []
    for index, name in enumerate(header):
        widest = max([bold.getlength(name), *(regular.getlength(row[index]) for row in body if index < len(row))])
        natural.append(min(int(widest) + 2 * _PADDING + 2, width // 2))
    natural = [max(value, _MIN_COLUMN) for value in natural]
    total = sum(natural)
    if total <= width:
        return natural
    return [max(int(value * width / total), 1) for value in natural]


def _fitted(font: Font, text: str, width: float) -> str:
    """`text` cut (ending with …) to fit `width` pixels."""
    if font.getlength(text) <= width:
        return text
    low, high = 0, len(text)
    while low < high:
        middle = (low + high + 1) // 2
        if font.getlength(text[:middle] + "\u2026") <= width:
            low = middle
        else:
            high = middle - 1
    return text[:low] + "\u2026" if width > font.getlength("\u2026") else ""


def _text_lines(font: Font, text: str, width: int) -> list[str]:
    lines: list[str] = []
    for paragraph in text.split("\n"):
        lines += _wrap(font, paragraph, width, MAX_TEXT_LINES + 1 - len(lines))
        if len(lines) > MAX_TEXT_LINES:
            return [*lines[:MAX_TEXT_LINES], "\u2026 (text cut: an image shows at most "
                                             f"{MAX_TEXT_LINES} lines)"]
    return lines or [""]


def _wrap(font: Font, text: str, width: int, max_lines: int) -> list[str]:
    """Greedy word wrap to `width` pixels, words wider than a line cut, at most `max_lines` lines."""
    lines: list[str] = []
    line = ""
    for word in text.split(" "):
        candidate = f"{line} {word}" if line else word
        if font.getlength(candidate) <= width:
            line = candidate
            continue
        if line:
            lines.append(line)
        while font.getlength(word) > width and len(word) > 1:
            cut = len(_fitted(font, word, width).rstrip("\u2026")) or 1
            lines.append(word[:cut])
            word = word[cut:]
        line = word
        if len(lines) >= max_lines:
            return lines[:max_lines]
    lines.append(line)
    return lines[:max_lines]
