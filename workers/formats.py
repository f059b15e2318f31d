"""Formats: render a command's content into an artifact body (json, csv, xlsx, html, text, pdf, png).

A schedule's `format_options` (validated by shared.schedule_rules.check_format_options) are
applied here, and its name titles the pdf and png formats.

Content and format. Rows and documents render in any format. A template's text is delivered as
its own html or text, except in pdf and png, which draw it. A blob (an http command's response)
whose content type is JSON is parsed and rendered in the asked format (a json format keeps the
bytes as they came unless `indent` asks to re-indent them); a JSON body that does not parse
fails the run, as it cannot be shown as a table. A blob of any other type (a renderer's PDF,
an image) passes through unchanged with its own content type: it cannot be converted, and its
bytes are what the renderer meant to send.

Several named results (Tiles) render together: json as an object of key to result, csv and text
as a section per key (its key on a line of its own, then its table), xlsx as a sheet per key, and
html, pdf and png as a table per key under the key as a heading. A result cut before rendering
(max_row_limit, an sql command's row_limit) says so under its table in html, pdf and png; csv,
xlsx, json and text carry the data alone.
"""

from __future__ import annotations

import csv
import datetime as dt
import decimal
import html
import io
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from workers.commands.base import Blob, CommandError, Content, Document, Rows, Text, Tiles
from workers.pdf_format import render_pdf
from workers.png_format import render_png
from workers.tabular import Table, as_rows, as_tables, cell_text, cut_note, html_to_text, json_default

# A spreadsheet treats text whose first non-blank character is one of these as a formula (CSV
# injection, OWASP); the full-width forms too, which some spreadsheets fold to the ASCII ones.
FORMULA_STARTS = frozenset("=+-@\uff1d\uff0b\uff0d\uff20")
EXTENSIONS = {"json": "json", "csv": "csv", "xlsx": "xlsx", "html": "html", "text": "txt", "pdf": "pdf",
              "png": "png"}
CONTENT_TYPES = {
    "json": "application/json",
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "html": "text/html; charset=utf-8",
    "text": "text/plain; charset=utf-8",
    "pdf": "application/pdf",
    "png": "image/png",
}
_BLOB_EXTENSIONS = {"application/json": "json", "text/csv": "csv", "text/html": "html", "text/plain": "txt",
                    "application/pdf": "pdf", "image/png": "png", "image/jpeg": "jpg",
                    CONTENT_TYPES["xlsx"]: "xlsx"}


@dataclass(frozen=True)
class Rendered:
    content_type: str
    extension: str
    body: bytes
    row_count: int | None  # None: the content has no notion of rows


def neutralise_cell(value: Any) -> Any:
    """Prefix text a spreadsheet would run as a formula with a quote; numbers and other values stay (pure)."""
    if isinstance(value, str) and (value.startswith(("\t", "\r")) or value.lstrip()[:1] in FORMULA_STARTS):
        return "'" + value
    return value


def render_csv(rows: Rows | list[Table], options: Mapping[str, Any] | None = None) -> bytes:
    """CSV (header unless include_header is false, `delimiter`), text that looks like a formula neutralised;
    several tables one after another, each after a line with its key and a blank line between them."""
    options = options or {}
    out = io.StringIO()
    writer = csv.writer(out, delimiter=options.get("delimiter", ","))
    for index, (key, table) in enumerate(_tables(rows)):
        if index:
            writer.writerow([])
        if key is not None:
            writer.writerow([neutralise_cell(key)])
        if options.get("include_header", True):
            writer.writerow([neutralise_cell(str(c)) for c in table.columns])
        for row in table.rows:
            writer.writerow([cell_text(neutralise_cell(v)) for v in row])
    return out.getvalue().encode()


def _tables(content: Rows | list[Table]) -> list[Table]:
    return [(None, content)] if isinstance(content, Rows) else content


def render_xlsx(rows: Rows | list[Table], options: Mapping[str, Any] | None = None) -> bytes:
    """An xlsx workbook with one sheet (`sheet_name`), or a sheet per key; text cells that look like formulas are
    stored as text."""
    from openpyxl import Workbook

    options = options or {}
    book = Workbook(write_only=True)
    for key, table in _tables(rows):
        # Result keys are valid sheet names (shared.command_rules checks them when the command is saved).
        sheet = book.create_sheet(key if key is not None else options.get("sheet_name", "Results"))
        if options.get("include_header", True):
            sheet.append([neutralise_cell(str(c)) for c in table.columns])
        for row in table.rows:
            sheet.append([_xlsx_value(v) for v in row])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _xlsx_value(value: Any) -> Any:
    if isinstance(value, bool | int | float | dt.date | dt.datetime) and not isinstance(value, dt.time):
        if isinstance(value, dt.datetime) and value.tzinfo is not None:
            return value.astimezone(dt.UTC).replace(tzinfo=None)  # Excel has no time zones
        return value
    if isinstance(value, decimal.Decimal):
        return float(value)
    return neutralise_cell(cell_text(value))


def render_html(rows: Rows | list[Table], options: Mapping[str, Any] | None = None, title: str = "") -> bytes:
    """An HTML table (or one per key under it as a heading), every value escaped, a note under a table whose
    result was cut; the `title` option as its heading, the schedule name as its title."""
    options = options or {}
    heading = options.get("title")
    page_title = html.escape(heading or title)
    h1 = f"<h1>{html.escape(heading)}</h1>" if heading else ""
    sections = "".join(_html_table(key, table) for key, table in _tables(rows))
    return (f"<!doctype html><html><head><meta charset=\"utf-8\"><title>{page_title}</title></head><body>{h1}"
            f"{sections}</body></html>").encode()


def _html_table(key: str | None, rows: Rows) -> str:
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in rows.columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(cell_text(v))}</td>" for v in row) + "</tr>" for row in rows.rows
    )
    h2 = f"<h2>{html.escape(key)}</h2>" if key is not None else ""
    note = cut_note(rows)
    after = f"<p class=\"note\">{html.escape(note)}</p>" if note else ""
    return f"{h2}<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>{after}"


def render_text(rows: Rows | list[Table]) -> bytes:
    """Tab-separated text with a header line; several tables one after another, each after a line with its key."""
    lines: list[str] = []
    for index, (key, table) in enumerate(_tables(rows)):
        if index:
            lines.append("")
        if key is not None:
            lines.append(key)
        lines.append("\t".join(str(c) for c in table.columns))
        lines += ["\t".join(cell_text(v).replace("\t", " ").replace("\n", " ") for v in row) for row in table.rows]
    return ("\n".join(lines) + "\n").encode()


def _dump_json(data: Any, options: Mapping[str, Any]) -> bytes:
    indent = options.get("indent")
    return json.dumps(data, default=json_default, indent=indent or None).encode()


def blob_extension(content_type: str) -> str:
    """A file extension for a content type (bin when unknown)."""
    return _BLOB_EXTENSIONS.get(_media_type(content_type), "bin")


def _media_type(content_type: str) -> str:
    return content_type.split(";")[0].strip().lower()


def is_json(content_type: str) -> bool:
    """Whether a content type is JSON (application/json or application/...+json)."""
    media = _media_type(content_type)
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


def _blob_rows(blob: Blob) -> int | None:
    if not is_json(blob.content_type):
        return None if blob.body.strip() else 0
    try:
        data = json.loads(blob.body)
    except ValueError:
        return None
    return len(data) if isinstance(data, list | dict) else 1


def _render_blob(blob: Blob, fmt: str, options: Mapping[str, Any], title: str) -> Rendered:
    passed_through = Rendered(blob.content_type, blob_extension(blob.content_type), blob.body, _blob_rows(blob))
    if not is_json(blob.content_type) or (fmt == "json" and not options.get("indent")):
        return passed_through
    try:
        data = json.loads(blob.body)
    except ValueError:
        if fmt == "json":
            return passed_through
        raise CommandError(f"the http command answered {_media_type(blob.content_type)} that is not valid JSON, "
                           f"so it cannot be rendered as {fmt}") from None
    return render(Document(data), fmt, options, title)


def render(content: Content, fmt: str, options: Mapping[str, Any] | None = None, title: str = "") -> Rendered:
    """Render content in a schedule's format with its options, `title` (the schedule's name) heading pdf/png.

    Raises CommandError when a JSON blob does not parse and another format was asked.
    """
    options = options or {}
    if isinstance(content, Blob):
        return _render_blob(content, fmt, options, title)
    if isinstance(content, Text):
        if fmt in ("pdf", "png"):
            text = html_to_text(content.text) if content.html else content.text
            body = render_pdf(text, options, title) if fmt == "pdf" else render_png(text, options, title)
            return Rendered(CONTENT_TYPES[fmt], EXTENSIONS[fmt], body, 1 if content.text.strip() else 0)
        kind = "html" if content.html else "text"
        return Rendered(CONTENT_TYPES[kind], EXTENSIONS[kind], content.text.encode(),
                        1 if content.text.strip() else 0)
    if fmt == "json":
        if isinstance(content, Tiles):
            data = {tile.key: _json_data(tile.content)[0] for tile in content.tiles}
            count = sum(_json_data(tile.content)[1] for tile in content.tiles)
            return Rendered(CONTENT_TYPES["json"], "json", _dump_json(data, options), count)
        data, count = _json_data(content)
        return Rendered(CONTENT_TYPES["json"], "json", _dump_json(data, options), count)
    if isinstance(content, Tiles):
        tables = as_tables(content)
        return Rendered(CONTENT_TYPES[fmt], EXTENSIONS[fmt], _render_rows(tables, fmt, options, title),
                        sum(len(rows.rows) for _, rows in tables))
    rows = as_rows(content)
    return Rendered(CONTENT_TYPES[fmt], EXTENSIONS[fmt], _render_rows(rows, fmt, options, title), len(rows.rows))


def _json_data(content: Rows | Document) -> tuple[Any, int]:
    if isinstance(content, Document):
        return content.data, len(content.data) if isinstance(content.data, list) else 1
    return [dict(zip(content.columns, r, strict=False)) for r in content.rows], len(content.rows)


def _render_rows(rows: Rows | list[Table], fmt: str, options: Mapping[str, Any], title: str) -> bytes:
    if fmt == "csv":
        return render_csv(rows, options)
    if fmt == "xlsx":
        return render_xlsx(rows, options)
    if fmt == "html":
        return render_html(rows, options, title)
    if fmt == "pdf":
        return render_pdf(rows, options, title)
    if fmt == "png":
        return render_png(rows, options, title)
    return render_text(rows)
