"""The pdf format: a command's table or text laid out on pages with fpdf2 (no browser)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from fpdf import FPDF

from workers.commands.base import Rows
from workers.tabular import BOLD_FONT, REGULAR_FONT, Table, cell_text, cut_note, drawable, row_shares, shortened

PAGE_SIZES = {"a3": "A3", "a4": "A4", "a5": "A5", "letter": "Letter", "legal": "Legal"}
# Cells are cut to this many characters and wrapped on at most _CELL_LINES lines (ending with …).
MAX_CELL_CHARS = 500
MAX_ROWS = 10_000  # in all the tables of a document; beyond this a note says how many rows were left out
MAX_TEXT_CHARS = 500_000
_CELL_LINES = 3
_HEADER_LINES = 2
_LINE_HEIGHT = 3.6
_PADDING = 0.8
_FONT = "DejaVu"
_BODY_PT = 8
_TITLE_PT = 16
_HEADING_PT = 11
_HEADER_FILL = (230, 233, 238)
_FIXED_DATE = datetime(1970, 1, 1, tzinfo=UTC)


class _Report(FPDF):
    def footer(self) -> None:
        self.set_y(-12)
        self.set_font(_FONT, size=7)
        self.cell(0, 8, f"{self.page_no()} / {{nb}}", align="C")


def render_pdf(content: Rows | list[Table] | str, options: Mapping[str, Any], title: str) -> bytes:
    """A PDF of the table, or of a table per key under it as a heading (column headings repeated on every page),
    or of the text, titled unless `hide_title`."""
    orientation = "L" if options.get("orientation") == "landscape" else "P"
    page_size = PAGE_SIZES[str(options.get("page_size", "a4")).lower()]
    pdf = _Report(orientation=orientation, unit="mm", format=page_size)
    # A fixed creation date (the Unix epoch, as reproducible builds use) and so a stable file id:
    # the same content gives the same bytes, which the results_changed alert condition compares.
    pdf.set_creation_date(_FIXED_DATE)
    pdf.set_creator("Punctual")
    pdf.set_title(drawable(title))
    pdf.add_font(_FONT, "", str(REGULAR_FONT))
    pdf.add_font(_FONT, "B", str(BOLD_FONT))
    pdf.set_auto_page_break(True, margin=15)
    pdf.c_margin = 0  # cells carry their own padding; fpdf2's would push text past the column
    pdf.add_page()
    if not options.get("hide_title") and title:
        pdf.set_font(_FONT, "B", _TITLE_PT)
        pdf.multi_cell(0, 9, drawable(title), new_x="LMARGIN", new_y="NEXT")
        pdf.ln(3)
    pdf.set_font(_FONT, size=_BODY_PT)
    if isinstance(content, str):
        pdf.multi_cell(0, 4.5, shortened(drawable(content), MAX_TEXT_CHARS) or " ", new_x="LMARGIN",
                       new_y="NEXT")
    else:
        tables = [(None, content)] if isinstance(content, Rows) else content
        shares = row_shares([len(rows.rows) for _, rows in tables], MAX_ROWS)
        for (key, rows), share in zip(tables, shares, strict=True):
            if key is not None:
                _write_heading(pdf, key)
            _write_table(pdf, rows, share, several=len(tables) > 1)
    return bytes(pdf.output())


def _write_heading(pdf: FPDF, key: str) -> None:
    # A heading never ends a page: it moves to the next one with room for a row under it.
    if pdf.get_y() + 20 > pdf.page_break_trigger:
        pdf.add_page()
    pdf.ln(2)
    pdf.set_font(_FONT, "B", _HEADING_PT)
    pdf.multi_cell(0, 6, drawable(key), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(1)
    pdf.set_font(_FONT, size=_BODY_PT)


def _write_table(pdf: FPDF, rows: Rows, room: int = MAX_ROWS, *, several: bool = False) -> None:
    if not rows.columns:
        pdf.multi_cell(0, 5, "No results.", new_x="LMARGIN", new_y="NEXT")
        return
    header = [shortened(drawable(str(column)), MAX_CELL_CHARS) for column in rows.columns]
    shown = rows.rows[:room]
    body = [[shortened(drawable(cell_text(value)), MAX_CELL_CHARS) for value in row] for row in shown]
    widths = _column_widths(pdf.epw, header, body)
    pdf.set_font(_FONT, "B", _BODY_PT)
    heading = _wrapped(pdf, widths, header, _HEADER_LINES)
    pdf.set_font(_FONT, "", _BODY_PT)
    _draw_row(pdf, widths, heading, fill=True)
    for cells in body:
        wrapped = _wrapped(pdf, widths, [*cells, *[""] * (len(header) - len(cells))][: len(header)], _CELL_LINES)
        if pdf.get_y() + _height(wrapped) > pdf.page_break_trigger:
            pdf.add_page()
            _draw_row(pdf, widths, heading, fill=True)
        _draw_row(pdf, widths, wrapped)
    pdf.ln(2)
    if not rows.rows:
        pdf.multi_cell(0, 5, "No rows.", new_x="LMARGIN", new_y="NEXT")
    elif len(rows.rows) > len(shown):
        pdf.multi_cell(0, 5, f"{len(rows.rows) - len(shown):,} more rows not shown: a PDF holds at most "
                             f"{MAX_ROWS:,} rows{' in all its tables' if several else ''} (csv and xlsx hold them "
                             "all).", new_x="LMARGIN", new_y="NEXT")
    note = cut_note(rows)
    if note:
        pdf.multi_cell(0, 5, note, new_x="LMARGIN", new_y="NEXT")


def _wrapped(pdf: FPDF, widths: list[float], cells: list[str], max_lines: int) -> list[list[str]]:
    return [wrap_text(pdf, text, width - 2 * _PADDING, max_lines) for text, width in zip(cells, widths, strict=True)]


def _height(wrapped: list[list[str]]) -> float:
    return max(len(lines) for lines in wrapped) * _LINE_HEIGHT + 2 * _PADDING


def _draw_row(pdf: FPDF, widths: list[float], wrapped: list[list[str]], fill: bool = False) -> None:
    pdf.set_font(_FONT, "B" if fill else "", _BODY_PT)
    height = _height(wrapped)
    x, y = pdf.l_margin, pdf.get_y()
    if fill:
        pdf.set_fill_color(*_HEADER_FILL)
    for lines, width in zip(wrapped, widths, strict=True):
        pdf.rect(x, y, width, height, style="DF" if fill else "D")
        for index, line in enumerate(lines):
            pdf.set_xy(x + _PADDING, y + _PADDING + index * _LINE_HEIGHT)
            pdf.cell(width - 2 * _PADDING, _LINE_HEIGHT, line)
        x += width
    pdf.set_xy(pdf.l_margin, y + height)
    pdf.set_font(_FONT, "", _BODY_PT)


def wrap_text(pdf: FPDF, text: str, width: float, max_lines: int) -> list[str]:
    """`text` in lines no wider than `width` in the current font, at most `max_lines` (the last cut with …)."""
    if "\n" not in text and pdf.get_string_width(text) <= width:
        return [text]
    lines: list[str] = []
    for paragraph in text.split("\n"):
        line = ""
        for word in paragraph.split(" "):
            candidate = f"{line} {word}" if line else word
            if pdf.get_string_width(candidate) <= width:
                line = candidate
                continue
            if line:
                lines.append(line)
            line = word
            while pdf.get_string_width(line) > width and len(line) > 1:  # a word wider than the column
                cut = _fitting_prefix(pdf, line, width)
                lines.append(line[:cut])
                line = line[cut:]
        lines.append(line)
        if len(lines) > max_lines:
            break
    if len(lines) > max_lines:
        last = lines[max_lines - 1]
        while last and pdf.get_string_width(last + "\u2026") > width:
            last = last[:-1]
        lines = [*lines[: max_lines - 1], last + "\u2026"]
    return lines or [""]


def _fitting_prefix(pdf: FPDF, text: str, width: float) -> int:
    low, high = 1, len(text)
    while low < high:
        middle = (low + high + 1) // 2
        if pdf.get_string_width(text[:middle]) <= width:
            low = middle
        else:
            high = middle - 1
    return low


def _column_widths(page_width: float, header: list[str], body: list[list[str]]) -> list[float]:
    """Column widths (mm) filling the page, each by the longest text in it (sampled), so short ones stay narrow."""
    sample = body[:200]
    weights = []
    for index, name in enumerate(header):
        longest = max([len(name), *(len(row[index]) for row in sample if index < len(row))])
        weights.append(float(min(max(longest, 4), 40) + 2))
    total = sum(weights)
    return [page_width * weight / total for weight in weights]
