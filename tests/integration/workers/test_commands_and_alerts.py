"""Commands (sql, http, template), formats and alert conditions, end to end through a real worker."""

from __future__ import annotations

import io
import json
from urllib.parse import parse_qs, urlsplit

from openpyxl import load_workbook

from tests.integration.workers.conftest import Warehouse, World
from tests.servers import HttpSink


def _body(world: World, run_id: object) -> bytes:
    return bytes(world.one("SELECT body FROM artifacts WHERE run_id = %s", run_id)["body"])


def test_csv_neutralises_formulas(world: World, warehouse: Warehouse, http_sink: HttpSink) -> None:
    command = world.command("sql", {"data_source": warehouse.name,
                                    "query": "SELECT region, note FROM wh_sales ORDER BY amount"})
    sid = world.schedule({"type": "webhook", "url": f"{http_sink.url}/csv"}, command_id=command, format="csv")
    run = world.wait_run(world.fire(sid))

    lines = http_sink.requests[0].body.decode().splitlines()
    assert lines == ["region,note", "east,\"'=HYPERLINK(\"\"http://evil\"\")\"", "west,'+1", "east,ok"]
    assert http_sink.requests[0].headers["Content-Type"].startswith("text/csv")
    assert world.one("SELECT row_count FROM artifacts WHERE run_id = %s", run["id"])["row_count"] == 3


def test_xlsx_format_is_a_workbook(world: World, warehouse: Warehouse, http_sink: HttpSink) -> None:
    command = world.command("sql", {"data_source": warehouse.name, "query": "SELECT region, amount FROM wh_sales "
                                                                       "ORDER BY amount"})
    sid = world.schedule({"type": "webhook", "url": f"{http_sink.url}/xlsx"}, command_id=command, format="xlsx")
    world.wait_run(world.fire(sid))

    sheet = load_workbook(io.BytesIO(http_sink.requests[0].body)).active
    assert [list(r) for r in sheet.iter_rows(values_only=True)] == [["region", "amount"], ["east", 5],
                                                                   ["west", 7], ["east", 10]]


def test_http_command_content_passes_through(world: World, http_sink: HttpSink) -> None:
    pdf = b"%PDF-1.7 rendered dashboard"
    http_sink.responder = lambda request, index: ((200, {"Content-Type": "application/pdf"}, pdf)
                                                  if request.path.startswith("/render") else (200, {}, b"ok"))
    user = world.user("pdf@example.test", name="Pat", attributes={"team": "ops"})
    command = world.command("http", {"url": f"{http_sink.url}/render"}, secrets={"headers": {"X-Api-Key": "k"}})
    sid = world.schedule({"type": "webhook", "url": f"{http_sink.url}/hook"}, command_id=command,
                         run_mode="per_subscriber", subscribers=[user], filters={"country": "NL"})
    run = world.wait_run(world.fire(sid))

    render, delivered = http_sink.requests
    assert render.method == "POST" and render.headers["X-Api-Key"] == "k"
    payload = json.loads(render.body)
    assert payload["schedule_id"] == str(sid) and payload["run_id"] == str(run["id"])
    assert payload["filters"] == {"country": "NL", "team": "ops"}
    assert payload["subscriber"]["email"] == "pdf@example.test" and payload["subscriber"]["name"] == "Pat"
    assert delivered.body == pdf and delivered.headers["Content-Type"] == "application/pdf"


def test_http_command_get_sends_the_payload_as_query_parameters(world: World, http_sink: HttpSink) -> None:
    command = world.command("http", {"url": f"{http_sink.url}/render", "method": "GET"})
    sid = world.schedule({"type": "webhook", "url": f"{http_sink.url}/hook"}, command_id=command,
                         filters={"country": "NL"})
    world.wait_run(world.fire(sid))

    query = parse_qs(urlsplit(http_sink.requests[0].path).query)
    assert http_sink.requests[0].method == "GET"
    assert query["schedule_id"] == [str(sid)] and json.loads(query["filters"][0]) == {"country": "NL"}


def test_results_present_skips_a_run_without_rows(world: World, warehouse: Warehouse, http_sink: HttpSink) -> None:
    command = world.command("sql", {"data_source": warehouse.name,
                                    "query": "SELECT * FROM wh_sales WHERE amount > %(min)s"})
    empty = world.schedule({"type": "webhook", "url": f"{http_sink.url}/a"}, command_id=command,
                           alert_condition="results_present", filters={"min": 1000})
    full = world.schedule({"type": "webhook", "url": f"{http_sink.url}/b"}, command_id=command,
                          alert_condition="results_present", filters={"min": 6}, name="Big sales")

    skipped = world.wait_run(world.fire(empty))
    sent = world.wait_run(world.fire(full))

    assert skipped["status"] == "skipped" and world.deliveries(skipped["id"]) == []
    assert world.schedule_row(empty)["last_status"] == "skipped"
    assert sent["status"] == "complete"
    assert [r.path for r in http_sink.requests] == ["/b"]


def test_results_changed_delivers_only_new_content(world: World, warehouse: Warehouse, http_sink: HttpSink) -> None:
    command = world.command("sql", {"data_source": warehouse.name,
                                    "query": "SELECT sum(amount) AS total FROM wh_sales"})
    sid = world.schedule({"type": "webhook", "url": f"{http_sink.url}/changes"}, command_id=command,
                         alert_condition="results_changed")
    from datetime import UTC, datetime, timedelta
    slot = datetime(2026, 4, 1, tzinfo=UTC)

    first = world.wait_run(world.fire(sid, scheduled_for=slot))
    same = world.wait_run(world.fire(sid, scheduled_for=slot + timedelta(hours=1)))
    warehouse.execute("INSERT INTO wh_sales VALUES ('north', 1, 'new')")
    changed = world.wait_run(world.fire(sid, scheduled_for=slot + timedelta(hours=2)))

    assert [first["status"], same["status"], changed["status"]] == ["complete", "skipped", "complete"]
    assert [json.loads(r.body) for r in http_sink.requests] == [[{"total": 22}], [{"total": 23}]]
