"""The pdf and png formats, format options and an http command's JSON in another format, through a real worker."""

from __future__ import annotations

import io
import json

from PIL import Image
from pypdf import PdfReader

from tests.integration.workers.conftest import Warehouse, World
from tests.servers import HttpSink

ROWS_QUERY = "SELECT region, amount, note FROM wh_sales ORDER BY amount"


def _pdf_lines(body: bytes) -> list[str]:
    return [line for page in PdfReader(io.BytesIO(body)).pages for line in page.extract_text().splitlines()]


def test_pdf_format_delivers_a_titled_table(world: World, warehouse: Warehouse, http_sink: HttpSink) -> None:
    command = world.command("sql", {"data_source": warehouse.name, "query": ROWS_QUERY})
    sid = world.schedule({"type": "webhook", "url": f"{http_sink.url}/pdf"}, command_id=command, format="pdf",
                         name="Sales by region — Q1")
    run = world.wait_run(world.fire(sid))

    assert run["status"] == "complete", run
    delivered = http_sink.requests[0]
    assert delivered.headers["Content-Type"] == "application/pdf" and delivered.body.startswith(b"%PDF-")
    lines = _pdf_lines(delivered.body)
    assert lines[0] == "Sales by region — Q1"
    assert "region amount note" in lines and "west 7 +1" in lines and "east 10 ok" in lines
    assert world.one("SELECT row_count FROM artifacts WHERE run_id = %s", run["id"])["row_count"] == 3


def test_pdf_options_hide_the_title_and_turn_the_page(world: World, warehouse: Warehouse,
                                                      http_sink: HttpSink) -> None:
    command = world.command("sql", {"data_source": warehouse.name, "query": ROWS_QUERY})
    sid = world.schedule({"type": "webhook", "url": f"{http_sink.url}/pdf"}, command_id=command, format="pdf",
                         format_options={"hide_title": True, "orientation": "landscape", "page_size": "Letter"})
    world.wait_run(world.fire(sid))

    body = http_sink.requests[0].body
    page = PdfReader(io.BytesIO(body)).pages[0]
    assert (round(float(page.mediabox.width)), round(float(page.mediabox.height))) == (792, 612)
    lines = _pdf_lines(body)
    assert "Weekly sales" not in lines and lines[0] == "region amount note"


def test_png_format_delivers_an_image_of_the_table(world: World, warehouse: Warehouse, http_sink: HttpSink) -> None:
    command = world.command("sql", {"data_source": warehouse.name, "query": ROWS_QUERY})
    wide = world.schedule({"type": "webhook", "url": f"{http_sink.url}/wide"}, command_id=command, format="png",
                          format_options={"width": 900})
    bare = world.schedule({"type": "webhook", "url": f"{http_sink.url}/bare"}, command_id=command, format="png",
                          format_options={"width": 900, "hide_title": True})
    assert world.wait_run(world.fire(wide))["status"] == "complete"
    assert world.wait_run(world.fire(bare))["status"] == "complete"

    by_path = {request.path: request for request in http_sink.requests}
    assert by_path["/wide"].headers["Content-Type"] == "image/png"
    Image.open(io.BytesIO(by_path["/wide"].body)).verify()
    titled, untitled = (Image.open(io.BytesIO(by_path[p].body)) for p in ("/wide", "/bare"))
    assert titled.format == "PNG" and titled.mode == "RGB" and titled.width == 900 == untitled.width
    assert titled.height - untitled.height == 40  # the title line, left out by hide_title
    assert min(titled.crop((0, 0, 900, 40)).convert("L").getdata()) < 100  # drawn, not blank
    assert untitled.height >= 4 * 24  # a header and three rows


def test_json_indent_is_applied(world: World, warehouse: Warehouse, http_sink: HttpSink) -> None:
    command = world.command("sql", {"data_source": warehouse.name, "query": "SELECT region FROM wh_sales "
                                                                       "ORDER BY amount LIMIT 1"})
    sid = world.schedule({"type": "webhook", "url": f"{http_sink.url}/json"}, command_id=command, format="json",
                         format_options={"indent": 2})
    world.wait_run(world.fire(sid))

    assert http_sink.requests[0].body == b'[\n  {\n    "region": "east"\n  }\n]'


def test_csv_keeps_negative_numbers_as_numbers(world: World, warehouse: Warehouse, http_sink: HttpSink) -> None:
    warehouse.execute("INSERT INTO wh_sales VALUES ('south', -3, '-refund'), ('north', -1, ' @x')")
    command = world.command("sql", {"data_source": warehouse.name, "query": ROWS_QUERY})
    sid = world.schedule({"type": "webhook", "url": f"{http_sink.url}/csv"}, command_id=command, format="csv",
                         format_options={"delimiter": ";"})
    world.wait_run(world.fire(sid))

    assert http_sink.requests[0].body.decode().splitlines()[:3] == ["region;amount;note", "south;-3;'-refund",
                                                                    "north;-1;' @x"]


def _json_renderer(http_sink: HttpSink, data: object) -> None:
    http_sink.responder = lambda request, index: (
        (200, {"Content-Type": "application/json"}, json.dumps(data).encode())
        if request.path.startswith("/render") else (200, {}, b"ok"))


def test_http_command_json_is_delivered_in_the_asked_csv(world: World, http_sink: HttpSink) -> None:
    _json_renderer(http_sink, [{"region": "east", "total": -5.5}, {"region": "=1+1", "total": 7}])
    command = world.command("http", {"url": f"{http_sink.url}/render"})
    sid = world.schedule({"type": "webhook", "url": f"{http_sink.url}/hook"}, command_id=command, format="csv")
    run = world.wait_run(world.fire(sid))

    delivered = http_sink.requests[1]
    assert run["status"] == "complete" and delivered.path == "/hook"
    assert delivered.headers["Content-Type"].startswith("text/csv")
    assert delivered.body.decode().splitlines() == ["region,total", "east,-5.5", "'=1+1,7"]


def test_http_command_json_is_delivered_as_a_pdf(world: World, http_sink: HttpSink) -> None:
    _json_renderer(http_sink, {"dashboard": "Revenue", "total": 1234})
    command = world.command("http", {"url": f"{http_sink.url}/render"})
    sid = world.schedule({"type": "webhook", "url": f"{http_sink.url}/hook"}, command_id=command, format="pdf",
                         name="Revenue dashboard")
    world.wait_run(world.fire(sid))

    delivered = http_sink.requests[1]
    assert delivered.headers["Content-Type"] == "application/pdf"
    assert _pdf_lines(delivered.body)[:3] == ["Revenue dashboard", "dashboard total", "Revenue 1234"]


def test_http_command_invalid_json_fails_the_run_for_another_format(world: World, http_sink: HttpSink) -> None:
    http_sink.responder = lambda request, index: ((200, {"Content-Type": "application/json"}, b"{not json")
                                                  if request.path.startswith("/render") else (200, {}, b"ok"))
    command = world.command("http", {"url": f"{http_sink.url}/render"})
    sid = world.schedule({"type": "webhook", "url": f"{http_sink.url}/hook"}, command_id=command, format="xlsx")
    run = world.wait_run(world.fire(sid))

    assert run["status"] == "failed", run
    assert "not valid JSON, so it cannot be rendered as xlsx" in (run["error"] or "")
    assert [r.path for r in http_sink.requests] == ["/render"]
