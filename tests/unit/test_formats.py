"""Formats: pure rendering of command content into artifact bytes."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from openpyxl import load_workbook
from PIL import Image
from pypdf import PdfReader

from workers import pdf_format
from workers.commands.base import Blob, CommandError, Document, Rows, Text
from workers.formats import neutralise_cell, render

ROWS = Rows(["name", "amount", "note"], [("Ana", Decimal("1.50"), "=SUM(A1:A2)"), ("Bo", 2, "<b>&</b>")])


@pytest.mark.parametrize(
    "value",
    ["=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx", "  =1+1", "\n=cmd", " -2", "\uff1d1+1", "\uff0b1", "\uff0d1",
     "\uff20SUM(A1)", "\u3000\uff1dx"],
)
def test_text_that_a_spreadsheet_would_run_is_neutralised(value: str) -> None:
    assert neutralise_cell(value) == "'" + value


@pytest.mark.parametrize("value", ["plain", "1-2", "a=b", " x-1", 3, -3, -2.5, Decimal("-1.50"), None, True])
def test_ordinary_values_and_every_number_are_left_alone(value: object) -> None:
    assert neutralise_cell(value) == value


def test_csv_has_a_header_and_neutralised_cells() -> None:
    rendered = render(ROWS, "csv")
    assert rendered.content_type.startswith("text/csv") and rendered.extension == "csv"
    assert rendered.body.decode().splitlines() == ["name,amount,note", "Ana,1.50,'=SUM(A1:A2)", "Bo,2,<b>&</b>"]
    assert rendered.row_count == 2


def test_csv_negative_numbers_stay_numbers_and_negative_text_is_neutralised() -> None:
    rows = Rows(["n"], [(-1,), (Decimal("-2.50"),), (-0.5,), ("-3",), ("\uff0d4",)])
    assert render(rows, "csv").body.decode().splitlines() == ["n", "-1", "-2.50", "-0.5", "'-3", "'\uff0d4"]


def test_csv_delimiter_and_header_options_are_applied() -> None:
    body = render(ROWS, "csv", {"delimiter": ";", "include_header": False}).body.decode()
    assert body.splitlines() == ["Ana;1.50;'=SUM(A1:A2)", "Bo;2;<b>&</b>"]
    assert render(ROWS, "csv", {"delimiter": "\t"}).body.decode().splitlines()[0] == "name\tamount\tnote"


def test_xlsx_sheet_name_and_header_options_are_applied() -> None:
    book = load_workbook(io.BytesIO(render(ROWS, "xlsx", {"sheet_name": "Sales", "include_header": False}).body))
    assert book.sheetnames == ["Sales"]
    assert [list(r) for r in book.active.iter_rows(values_only=True)] == [["Ana", 1.5, "'=SUM(A1:A2)"],
                                                                         ["Bo", 2, "<b>&</b>"]]


def test_xlsx_keeps_negative_numbers_and_neutralises_full_width_formulas() -> None:
    rows = Rows(["n", "t"], [(-1, "\uff1dSUM(A1)"), (Decimal("-2.5"), " @x")])
    sheet = load_workbook(io.BytesIO(render(rows, "xlsx").body)).active
    assert [list(r) for r in sheet.iter_rows(values_only=True)] == [["n", "t"], [-1, "'\uff1dSUM(A1)"],
                                                                   [-2.5, "' @x"]]


def test_json_indent_is_applied() -> None:
    assert render(ROWS, "json", {"indent": 2}).body.decode().startswith('[\n  {\n    "name": "Ana"')
    assert render(Document({"a": 1}), "json", {"indent": 4}).body == b'{\n    "a": 1\n}'
    assert render(Document({"a": 1}), "json").body == b'{"a": 1}'


def test_html_title_option_heads_the_page() -> None:
    body = render(ROWS, "html", {"title": "Sales <EMEA>"}, "Weekly").body.decode()
    assert "<title>Sales &lt;EMEA&gt;</title>" in body and "<h1>Sales &lt;EMEA&gt;</h1>" in body
    assert "<title>Weekly</title>" in render(ROWS, "html", {}, "Weekly").body.decode()


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


def test_json_blob_is_rendered_in_the_asked_format() -> None:
    blob = Blob(b'[{"region": "east", "amount": -5}, {"region": "=evil", "amount": 7}]', "application/json")
    rendered = render(blob, "csv")
    assert rendered.content_type.startswith("text/csv") and rendered.extension == "csv" and rendered.row_count == 2
    assert rendered.body.decode().splitlines() == ["region,amount", "east,-5", "'=evil,7"]
    sheet = load_workbook(io.BytesIO(render(blob, "xlsx", {"sheet_name": "S"}).body)).active
    assert [list(r) for r in sheet.iter_rows(values_only=True)] == [["region", "amount"], ["east", -5],
                                                                   ["'=evil", 7]]


def test_json_blob_in_json_passes_through_unless_indent_is_asked() -> None:
    blob = Blob(b'{"b":1,  "a":[1,2]}', "application/json; charset=utf-8")
    assert render(blob, "json").body == blob.body
    assert render(blob, "json", {"indent": 1}).body == b'{\n "b": 1,\n "a": [\n  1,\n  2\n ]\n}'
    assert render(Blob(b"{oops", "application/json"), "json", {"indent": 2}).body == b"{oops"


def test_json_blob_that_does_not_parse_fails_another_format() -> None:
    with pytest.raises(CommandError, match="not valid JSON, so it cannot be rendered as csv"):
        render(Blob(b"{oops", "application/json"), "csv")


def test_other_blobs_pass_through_every_format() -> None:
    png = b"\x89PNG\r\n\x1a\nnot really"
    for fmt in ("csv", "pdf", "xlsx"):
        rendered = render(Blob(png, "image/png"), fmt)
        assert (rendered.body, rendered.content_type, rendered.extension) == (png, "image/png", "png")


def test_json_blob_counts_its_rows_for_results_present() -> None:
    assert render(Blob(b"[]", "application/json"), "json").row_count == 0
    assert render(Blob(b"[1, 2]", "application/json; charset=utf-8"), "json").row_count == 2


def test_template_text_passes_through_as_html_or_text() -> None:
    assert render(Text("<p>x</p>", html=True), "json").content_type.startswith("text/html")
    assert render(Text("   "), "json").row_count == 0


def test_documents_become_rows_in_tabular_formats() -> None:
    assert render(Document({"a": 1, "b": "=x"}), "csv").body.decode().splitlines() == ["a,b", "1,'=x"]
    assert json.loads(render(Document({"a": 1}), "json").body) == {"a": 1}


# --- pdf and png: opened with independent readers (pypdf, Pillow) --------------------------------


def pdf_text(body: bytes) -> list[str]:
    """The extracted text of each page."""
    return [page.extract_text() for page in PdfReader(io.BytesIO(body)).pages]


def open_png(body: bytes) -> Image.Image:
    Image.open(io.BytesIO(body)).verify()  # a valid, complete PNG
    return Image.open(io.BytesIO(body))


SALES = Rows(["region", "amount", "owner"],
             [("east", Decimal("-5.25"), "Zoë Ørsted"), ("west", 7, "Дмитрий"), ("north", None, "=cmd")])


def test_pdf_is_a_titled_table() -> None:
    rendered = render(SALES, "pdf", {}, "Weekly sales — EMEA")
    assert rendered.content_type == "application/pdf" and rendered.extension == "pdf" and rendered.row_count == 3
    assert rendered.body.startswith(b"%PDF-")
    [page] = pdf_text(rendered.body)
    lines = page.splitlines()
    assert lines[0] == "Weekly sales — EMEA"
    assert "region amount owner" in lines and "east -5.25 Zoë Ørsted" in lines and "west 7 Дмитрий" in lines
    assert "north =cmd" in lines  # a PDF runs nothing: text stays as it is
    assert PdfReader(io.BytesIO(rendered.body)).metadata.title == "Weekly sales — EMEA"


def test_pdf_hide_title_leaves_the_title_out() -> None:
    [page] = pdf_text(render(SALES, "pdf", {"hide_title": True}, "Weekly sales").body)
    assert "Weekly sales" not in page and page.splitlines()[0] == "region amount owner"


def test_pdf_orientation_and_page_size_are_applied() -> None:
    def size(options: dict) -> tuple[float, float]:
        box = PdfReader(io.BytesIO(render(SALES, "pdf", options, "t").body)).pages[0].mediabox
        return round(float(box.width)), round(float(box.height))

    assert size({}) == (595, 842)  # A4 portrait, in points
    assert size({"orientation": "landscape"}) == (842, 595)
    assert size({"page_size": "Letter"}) == (612, 792)
    assert size({"page_size": "legal", "orientation": "landscape"}) == (1008, 612)


def test_pdf_paginates_many_rows_with_the_headings_on_every_page() -> None:
    rows = Rows(["n", "label"], [(i, f"row {i}") for i in range(400)])
    pages = pdf_text(render(rows, "pdf", {}, "Many").body)
    assert len(pages) > 3
    assert all("n label" in page.splitlines()[:3] for page in pages)
    every_row = [line for page in pages for line in page.splitlines() if line.endswith(tuple("0123456789"))]
    assert "399 row 399" in every_row and "0 row 0" in every_row
    assert pages[-1].splitlines()[-1] == f"{len(pages)} / {len(pages)}"


def test_pdf_cuts_long_cells_and_says_how_many_rows_it_left_out(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pdf_format, "MAX_ROWS", 5)
    rows = Rows(["id", "text"], [(i, "word " * 400 if i == 0 else "x" * 2000) for i in range(12)])
    text = "\n".join(pdf_text(render(rows, "pdf", {}, "Long").body))
    assert "7 more rows not shown: a PDF holds at most 5 rows (csv and xlsx hold them all)." in text
    assert "…" in text and "word " * 400 not in text.replace("\n", " ")
    assert "11 " not in text.splitlines()  # the 12th row is not there


def test_pdf_of_no_rows_and_of_text() -> None:
    assert "No rows." in pdf_text(render(Rows(["a"], []), "pdf", {}, "Empty").body)[0]
    text = render(Text("Hello Ådne,\nyour report: ∑ 42"), "pdf", {}, "Note")
    assert text.content_type == "application/pdf" and text.row_count == 1
    assert pdf_text(text.body)[0].splitlines() == ["Note", "Hello Ådne,", "your report: ∑ 42", "1 / 1"]
    markup = render(Text("<h1>Hi</h1><p>Sales <b>up</b> &amp; away</p><script>x()</script>", html=True), "pdf")
    assert pdf_text(markup.body)[0].splitlines() == ["Hi", "Sales up & away", "1 / 1"]


def test_pdf_of_the_same_content_is_the_same_bytes() -> None:
    # results_changed compares the artifact's hash: no clock may leak into it.
    assert render(SALES, "pdf", {}, "t").body == render(SALES, "pdf", {}, "t").body


def test_pdf_survives_control_characters_and_lone_surrogates() -> None:
    rows = Rows(["a"], [("bell\x07 and \ud800 and\u2028end",)])
    assert pdf_text(render(rows, "pdf", {}, "t\x00").body)[0].splitlines() == ["t", "a", "bell and ? and", "end",
                                                                              "1 / 1"]


def test_png_is_a_titled_table_image() -> None:
    rendered = render(SALES, "png", {}, "Weekly sales")
    assert rendered.content_type == "image/png" and rendered.extension == "png" and rendered.row_count == 3
    image = open_png(rendered.body)
    assert image.format == "PNG" and image.mode == "RGB" and image.width == 1200
    untitled = open_png(render(SALES, "png", {"hide_title": True}, "Weekly sales").body)
    assert image.height - untitled.height == 40  # the title's line
    title_band = image.crop((0, 0, image.width, 40)).convert("L")
    assert min(title_band.getdata()) < 100  # dark title pixels
    assert min(untitled.crop((0, 0, untitled.width, 14)).convert("L").getdata()) == 255


def test_png_width_option_and_row_cap() -> None:
    def image_of(count: int, options: dict | None = None) -> Image.Image:
        rows = Rows(["n", "label"], [(i, "x" * (i % 300)) for i in range(count)])
        return open_png(render(rows, "png", options or {}, "Cap").body)

    assert image_of(3, {"width": 480}).width == 480
    hundred, hundred_and_one, thousand = image_of(100), image_of(101), image_of(1000)
    assert hundred_and_one.height == hundred.height + 24  # one line: the note saying what was left out
    assert thousand.size == hundred_and_one.size


def test_png_of_text_wraps_to_the_width() -> None:
    narrow = open_png(render(Text("lorem ipsum " * 200), "png", {"width": 400}, "T").body)
    wide = open_png(render(Text("lorem ipsum " * 200), "png", {"width": 1600}, "T").body)
    assert narrow.width == 400 and narrow.height > wide.height


def test_png_of_the_same_content_is_the_same_bytes() -> None:
    assert render(SALES, "png", {}, "t").body == render(SALES, "png", {}, "t").body
