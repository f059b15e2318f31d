"""Formats: pure rendering of command content into artifact bytes."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from openpyxl import load_workbook

from workers.commands.base import Blob, Document, Rows, Text
from workers.formats import neutralise_cell, render

ROWS = Rows(["name", "amount", "note"], [("Ana", Decimal("1.50"), "=SUM(A1:A2)"), ("Bo", 2, "<b>&</b>")])


@pytest.mark.parametrize("value", ["=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx"])
def test_formula_prefixes_are_neutralised(value: str) -> None:
    assert neutralise_cell(value) == "'" + value


@pytest.mark.parametrize("value", ["plain", "1-2", "a=b", 3, None])
def test_ordinary_values_are_left_alone(value: object) -> None:
    assert neutralise_cell(value) == value


def test_csv_has_a_header_and_neutralised_cells() -> None:
    rendered = render(ROWS, "csv")
    assert rendered.content_type.startswith("text/csv") and rendered.extension == "csv"
    assert rendered.body.decode().splitlines() == ["name,amount,note", "Ana,1.50,'=SUM(A1:A2)", "Bo,2,<b>&</b>"]
    assert rendered.row_count == 2


def test_html_escapes_every_value() -> None:
    body = render(ROWS, "html").body.decode()
    assert "<td>&lt;b&gt;&amp;&lt;/b&gt;</td>" in body and "<b>&" not in body


def test_json_rows_are_objects() -> None:
    rendered = render(Rows(["at"], [(datetime(2026, 1, 1, tzinfo=UTC),)]), "json")
    assert json.loads(rendered.body) == [{"at": "2026-01-01T00:00:00+00:00"}]


def test_xlsx_keeps_numbers_and_stores_formulas_as_text() -> None:
    sheet = load_workbook(io.BytesIO(render(ROWS, "xlsx").body)).active
    values = [list(r) for r in sheet.iter_rows(values_only=True)]
    assert values == [["name", "amount", "note"], ["Ana", 1.5, "'=SUM(A1:A2)"], ["Bo", 2, "<b>&</b>"]]


def test_text_is_tab_separated() -> None:
    assert render(ROWS, "text").body.decode().splitlines()[0] == "name\tamount\tnote"


def test_bytes_pass_through_with_their_content_type() -> None:
    rendered = render(Blob(b"%PDF-1.7", "application/pdf"), "csv")
    assert (rendered.body, rendered.content_type, rendered.extension) == (b"%PDF-1.7", "application/pdf", "pdf")


def test_json_blob_counts_its_rows_for_results_present() -> None:
    assert render(Blob(b"[]", "application/json"), "json").row_count == 0
    assert render(Blob(b"[1, 2]", "application/json; charset=utf-8"), "json").row_count == 2


def test_template_text_passes_through_as_html_or_text() -> None:
    assert render(Text("<p>x</p>", html=True), "json").content_type.startswith("text/html")
    assert render(Text("   "), "json").row_count == 0


def test_documents_become_rows_in_tabular_formats() -> None:
    assert render(Document({"a": 1, "b": "=x"}), "csv").body.decode().splitlines() == ["a,b", "1,'=x"]
    assert json.loads(render(Document({"a": 1}), "json").body) == {"a": 1}
