"""Formats: render a command's content into an artifact body (json, csv, xlsx, html, text)."""

from __future__ import annotations

import csv
import datetime as dt
import decimal
import html
import io
import json
import uuid
from dataclasses import dataclass
from typing import Any

from workers.commands.base import Blob, Content, Document, Rows, Text

# A spreadsheet treats a cell starting with one of these as a formula (CSV/formula injection).
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
EXTENSIONS = {"json": "json", "csv": "csv", "xlsx": "xlsx", "html": "html", "text": "txt"}
CONTENT_TYPES = {
    "json": "application/json",
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "html": "text/html; charset=utf-8",
    "text": "text/plain; charset=utf-8",
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


def _json_default(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal | uuid.UUID):
        return str(value)
    if isinstance(value, bytes | memoryview):
        return bytes(value).hex()
    return str(value)


def neutralise_cell(value: Any) -> Any:
    """Prefix text a spreadsheet would run as a formula with a quote (pure)."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def _as_rows(content: Rows | Document) -> Rows:
    if isinstance(content, Rows):
        return content
    data = content.data
    if isinstance(data, list) and all(isinstance(item, dict) for item in data):
        columns = list(dict.fromkeys(k for item in data for k in item))
        return Rows(columns, [tuple(item.get(c) for c in columns) for item in data])
    if isinstance(data, dict):
        return Rows(list(data), [tuple(data.values())])
    return Rows(["value"], [(data,)])


def _cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dict | list):
        return json.dumps(value, default=_json_default)
    return _json_default(value) if not isinstance(value, str) else value


def render_csv(rows: Rows) -> bytes:
    """CSV with a header row, formula injection neutralised."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([neutralise_cell(c) for c in rows.columns])
    for row in rows.rows:
        writer.writerow([neutralise_cell(_cell_text(v)) for v in row])
    return out.getvalue().encode()


def render_xlsx(rows: Rows) -> bytes:
    """An xlsx workbook with one sheet; text cells that look like formulas are stored as text."""
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    sheet = book.create_sheet("Results")
    sheet.append([neutralise_cell(c) for c in rows.columns])
    for row in rows.rows:
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
    return neutralise_cell(_cell_text(value))


def render_html(rows: Rows) -> bytes:
    """An HTML table, every value escaped."""
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in rows.columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(_cell_text(v))}</td>" for v in row) + "</tr>" for row in rows.rows
    )
    return (f"<!doctype html><html><body><table><thead><tr>{head}</tr></thead>"
            f"<tbody>{body}</tbody></table></body></html>").encode()


def render_text(rows: Rows) -> bytes:
    """Tab-separated text with a header line."""
    lines = ["\t".join(str(c) for c in rows.columns)]
    lines += ["\t".join(_cell_text(v).replace("\t", " ").replace("\n", " ") for v in row) for row in rows.rows]
    return ("\n".join(lines) + "\n").encode()


def _rows_json(rows: Rows) -> bytes:
    return json.dumps([dict(zip(rows.columns, r, strict=False)) for r in rows.rows], default=_json_default).encode()


def blob_extension(content_type: str) -> str:
    """A file extension for a content type (bin when unknown)."""
    return _BLOB_EXTENSIONS.get(content_type.split(";")[0].strip().lower(), "bin")


def _blob_rows(blob: Blob) -> int | None:
    if blob.content_type.split(";")[0].strip().lower() != "application/json":
        return None if blob.body.strip() else 0
    try:
        data = json.loads(blob.body)
    except ValueError:
        return None
    return len(data) if isinstance(data, list | dict) else 1


def render(content: Content, fmt: str) -> Rendered:
    """Render content in a schedule's format; text and bytes pass through with their own type."""
    if isinstance(content, Blob):
        return Rendered(content.content_type, blob_extension(content.content_type), content.body,
                        _blob_rows(content))
    if isinstance(content, Text):
        kind = "html" if content.html else "text"
        return Rendered(CONTENT_TYPES[kind], EXTENSIONS[kind], content.text.encode(),
                        1 if content.text.strip() else 0)
    if isinstance(content, Document) and fmt == "json":
        data = content.data
        count = len(data) if isinstance(data, list) else 1
        return Rendered(CONTENT_TYPES["json"], "json", json.dumps(data, default=_json_default).encode(), count)
    rows = _as_rows(content)
    renderers = {"json": _rows_json, "csv": render_csv, "xlsx": render_xlsx, "html": render_html,
                 "text": render_text}
    return Rendered(CONTENT_TYPES[fmt], EXTENSIONS[fmt], renderers[fmt](rows), len(rows.rows))
