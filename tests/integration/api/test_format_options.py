"""Formats and their options over HTTP: pdf and png accepted, each option checked by type and range."""

from __future__ import annotations

import pytest
from psycopg_pool import ConnectionPool

from tests.integration.api.conftest import WEBHOOK, Api, error

HIDE_TITLE = "format_options: hide_title can only be used with PDF or PNG formats"


@pytest.mark.parametrize(
    ("fmt", "options"),
    [("pdf", {"hide_title": True, "orientation": "landscape", "page_size": "Letter"}),
     ("png", {"hide_title": False, "width": 800}), ("json", {"indent": 2}),
     ("csv", {"delimiter": "\t", "include_header": False}), ("xlsx", {"sheet_name": "Sales", "include_header": True}),
     ("html", {"title": "Weekly"}), ("text", {})],
)
def test_each_format_takes_its_options(api: Api, pool: ConnectionPool, fmt: str, options: dict) -> None:
    body = api.create_schedule(format=fmt, format_options=options)
    assert (body["format"], body["format_options"]) == (fmt, options)
    with pool.connection() as conn:
        row = conn.execute("SELECT format, format_options FROM schedules WHERE id = %s", (body["id"],)).fetchone()
    assert row == (fmt, options)


@pytest.mark.parametrize("fmt", ["json", "csv", "xlsx", "html", "text"])
def test_hide_title_is_only_for_pdf_and_png(api: Api, fmt: str) -> None:
    body = {"name": "x", "cron_expression": "0 9 * * *", "destination": WEBHOOK, "format": fmt,
            "format_options": {"hide_title": True}}
    assert error(api.post("/v1/schedules", body), 400) == HIDE_TITLE
    assert api.get("/v1/schedules").get_json()["records"] == []


def test_changing_the_format_checks_the_stored_options(api: Api) -> None:
    created = api.create_schedule(format="pdf", format_options={"hide_title": True})
    sid = created["id"]
    assert error(api.patch(f"/v1/schedules/{sid}", {"format": "csv"}), 400) == HIDE_TITLE
    assert error(api.patch(f"/v1/schedules/{sid}", {"format_options": {"width": 800}}), 400).startswith(
        "format_options: Option width is not compatible with format pdf")
    assert api.get(f"/v1/schedules/{sid}").get_json() == created
    moved = api.patch(f"/v1/schedules/{sid}", {"format": "png", "format_options": {"width": 640}}).get_json()
    assert (moved["format"], moved["format_options"]) == ("png", {"width": 640})


@pytest.mark.parametrize(
    ("fmt", "options", "detail"),
    [
        ("png", {"width": 100}, "format_options.width: Must be an integer between 320 and 4000, in pixels"),
        ("png", {"width": 4001}, "format_options.width: Must be an integer between 320 and 4000, in pixels"),
        ("png", {"width": "800"}, "format_options.width: Must be an integer between 320 and 4000, in pixels"),
        ("png", {"width": True}, "format_options.width: Must be an integer between 320 and 4000, in pixels"),
        ("png", {"hide_title": "yes"}, "format_options.hide_title: Must be a boolean"),
        ("pdf", {"orientation": "sideways"}, "format_options.orientation: Must be one of: portrait, landscape"),
        ("pdf", {"page_size": "B5"}, "format_options.page_size: Must be one of: A3, A4, A5, Letter, Legal"),
        ("pdf", {"page_size": 4}, "format_options.page_size: Must be one of: A3, A4, A5, Letter, Legal"),
        ("json", {"indent": 9}, "format_options.indent: Must be an integer between 0 and 8"),
        ("csv", {"delimiter": '"'}, "format_options.delimiter: Must be a single printable character or a tab"),
        ("csv", {"delimiter": "\x01"}, "format_options.delimiter: Must be a single printable character or a tab"),
        ("csv", {"include_header": 1}, "format_options.include_header: Must be a boolean"),
        ("xlsx", {"sheet_name": "a/b"}, "format_options.sheet_name: Must be a string of 1 to 31 characters"),
        ("xlsx", {"sheet_name": "x" * 32}, "format_options.sheet_name: Must be a string of 1 to 31 characters"),
        ("pdf", {"width": 800}, "format_options: Option width is not compatible with format pdf (supported "
                                "options: hide_title, orientation, page_size)"),
        ("text", {"indent": 2}, "format_options: Option indent is not compatible with format text (supported "
                                "options: none)"),
    ],
)
def test_bad_options_name_the_field(api: Api, fmt: str, options: dict, detail: str) -> None:
    body = {"name": "x", "cron_expression": "0 9 * * *", "destination": WEBHOOK, "format": fmt,
            "format_options": options}
    assert error(api.post("/v1/schedules", body), 400).startswith(detail)


def test_unknown_format_is_refused(api: Api) -> None:
    body = {"name": "x", "cron_expression": "0 9 * * *", "destination": WEBHOOK, "format": "docx"}
    assert error(api.post("/v1/schedules", body), 400) == \
        "format: Must be one of: json, csv, xlsx, html, text, pdf, png."
