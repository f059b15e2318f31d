"""Commands with several named results (Omni's tiles) and row caps, through a real worker.

One tile (query_key) or all of them, each run as its own guarded query; max_row_limit and an sql
command's row_limit cut a result and the artifact says so; a key the command no longer has fails
the run with Omni's message.
"""

from __future__ import annotations

import io
import json
import time
from typing import Any

from openpyxl import load_workbook
from psycopg.types.json import Jsonb
from pypdf import PdfReader

from shared.db import transaction
from tests.integration.workers.conftest import Warehouse, World
from tests.servers import HttpSink

TILES = {"sales": "SELECT region, amount FROM wh_sales ORDER BY amount",
         "returns": "SELECT 'east' AS region, 2 AS refunds"}


def _sql_tiles(world: World, warehouse: Warehouse, queries: dict[str, str] | None = None,
               **config: Any) -> Any:
    queries = queries or TILES
    return world.command("sql", {"data_source": warehouse.name, "queries": queries, "result_keys": list(queries),
                                 **config})


def _deliver(world: World, http_sink: HttpSink, command: Any, **values: Any) -> dict[str, Any]:
    sid = world.schedule({"type": "webhook", "url": f"{http_sink.url}/hook"}, command_id=command, **values)
    return world.wait_run(world.fire(sid))


def _pdf_lines(body: bytes) -> list[str]:
    return [line for page in PdfReader(io.BytesIO(body)).pages for line in page.extract_text().splitlines()]


def _hook_bodies(http_sink: HttpSink) -> list[bytes]:
    return [r.body for r in http_sink.requests if r.path == "/hook"]


def test_query_key_delivers_only_that_tile_and_runs_only_its_query(world: World, warehouse: Warehouse,
                                                                    http_sink: HttpSink) -> None:
    # The other tile's query would fail: delivering one tile must not run it.
    command = _sql_tiles(world, warehouse, {"sales": "SELECT 1 / 0 AS broken", "returns": TILES["returns"]})
    run = _deliver(world, http_sink, command, query_key="returns", format="csv")

    assert run["status"] == "complete", run["error"]
    assert _hook_bodies(http_sink) == [b"region,refunds\r\neast,2\r\n"]
    assert world.one("SELECT row_count FROM artifacts WHERE run_id = %s", run["id"])["row_count"] == 1


def test_without_query_key_every_tile_is_delivered_in_the_commands_order(world: World, warehouse: Warehouse,
                                                                        http_sink: HttpSink) -> None:
    command = _sql_tiles(world, warehouse)
    as_json = _deliver(world, http_sink, command, format="json")
    as_xlsx = _deliver(world, http_sink, command, format="xlsx")
    as_pdf = _deliver(world, http_sink, command, format="pdf", name="Sales pack")

    assert [r["status"] for r in (as_json, as_xlsx, as_pdf)] == ["complete"] * 3
    json_body, xlsx_body, pdf_body = _hook_bodies(http_sink)
    assert list(json.loads(json_body)) == ["sales", "returns"]
    assert json.loads(json_body) == {"sales": [{"region": "east", "amount": 5}, {"region": "west", "amount": 7},
                                               {"region": "east", "amount": 10}],
                                     "returns": [{"region": "east", "refunds": 2}]}
    book = load_workbook(io.BytesIO(xlsx_body))
    assert book.sheetnames == ["sales", "returns"]
    assert [list(r) for r in book["returns"].iter_rows(values_only=True)] == [["region", "refunds"], ["east", 2]]
    assert book["sales"].max_row == 4
    lines = _pdf_lines(pdf_body)
    assert lines[0] == "Sales pack"
    assert lines.index("sales") < lines.index("region amount") < lines.index("returns") < lines.index("east 2")
    assert world.one("SELECT row_count FROM artifacts WHERE run_id = %s", as_pdf["id"])["row_count"] == 4


def test_max_row_limit_cuts_each_result_and_the_artifact_says_so(world: World, warehouse: Warehouse,
                                                                  http_sink: HttpSink) -> None:
    command = _sql_tiles(world, warehouse)
    as_pdf = _deliver(world, http_sink, command, format="pdf", max_row_limit=2)
    as_html = _deliver(world, http_sink, command, format="html", max_row_limit=2)
    as_json = _deliver(world, http_sink, command, format="json", max_row_limit=2)

    assert [r["status"] for r in (as_pdf, as_html, as_json)] == ["complete"] * 3
    pdf_body, html_body, json_body = _hook_bodies(http_sink)
    lines = _pdf_lines(pdf_body)
    assert "east 5" in lines and "west 7" in lines and "east 10" not in lines
    assert lines.count("Result cut to its first 2 rows by max_row_limit; it has more.") == 1  # returns has 1 row
    assert "<p class=\"note\">Result cut to its first 2 rows by max_row_limit; it has more.</p>" in html_body.decode()
    assert [len(v) for v in json.loads(json_body).values()] == [2, 1]
    assert world.one("SELECT row_count FROM artifacts WHERE run_id = %s", as_json["id"])["row_count"] == 3


def test_a_cut_by_the_commands_row_limit_is_stated_too(world: World, warehouse: Warehouse,
                                                       http_sink: HttpSink) -> None:
    command = world.command("sql", {"data_source": warehouse.name, "query": "SELECT g FROM generate_series(1, 50) g",
                                    "row_limit": 3})
    run = _deliver(world, http_sink, command, format="pdf", override_row_limit=True, max_row_limit=40)
    full = world.command("sql", {"data_source": warehouse.name, "query": "SELECT g FROM generate_series(1, 3) g",
                                 "row_limit": 3})
    uncut = _deliver(world, http_sink, full, format="html")

    assert run["status"] == "complete" and uncut["status"] == "complete"
    lines = _pdf_lines(_hook_bodies(http_sink)[0])
    assert "Result cut to its first 3 rows by the command's row_limit; it has more." in lines and "4" not in lines
    assert world.one("SELECT row_count FROM artifacts WHERE run_id = %s", run["id"])["row_count"] == 3
    # Exactly row_limit rows is not a cut: the row past the limit is what says there are more.
    assert "class=\"note\"" not in _hook_bodies(http_sink)[1].decode()


def test_the_run_fails_with_omnis_message_when_the_key_is_gone(world: World, warehouse: Warehouse,
                                                               http_sink: HttpSink) -> None:
    command = _sql_tiles(world, warehouse)
    sid = world.schedule({"type": "webhook", "url": f"{http_sink.url}/hook"}, command_id=command,
                         query_key="returns")
    with transaction(world.pool) as conn:  # the command changed after the schedule was saved
        conn.execute("UPDATE commands SET config = %s WHERE id = %s",
                     (Jsonb({"data_source": warehouse.name, "queries": {"sales": TILES["sales"]},
                             "result_keys": ["sales"], "row_limit": 10000, "timeout_s": 30}), command))
    run = world.wait_run(world.fire(sid))

    assert run["status"] == "failed"
    assert run["error"] == "Couldn't find query presentation for key: returns"
    assert http_sink.requests == []


def test_http_renderer_results_are_split_by_key_and_capped(world: World, http_sink: HttpSink) -> None:
    answer = {"sales": [{"region": r, "amount": a} for r, a in (("east", 5), ("west", 7), ("north", 1))],
              "returns": {"region": "east", "refunds": 2}, "generated_at": "2024-01-01"}
    http_sink.responder = lambda request, index: (
        (200, {"Content-Type": "application/json"}, json.dumps(answer).encode())
        if request.path == "/render" else (200, {}, b"ok"))
    command = world.command("http", {"url": f"{http_sink.url}/render", "result_keys": ["sales", "returns"]})
    one = _deliver(world, http_sink, command, query_key="sales", format="json", max_row_limit=2)
    every = _deliver(world, http_sink, command, format="csv")
    gone = world.command("http", {"url": f"{http_sink.url}/render", "result_keys": ["sales", "refunds"]})
    missing = _deliver(world, http_sink, gone, query_key="refunds")

    assert one["status"] == "complete" and every["status"] == "complete"
    first, second = _hook_bodies(http_sink)
    assert json.loads(first) == answer["sales"][:2]
    assert second.decode().split("\r\n") == ["sales", "region,amount", "east,5", "west,7", "north,1", "",
                                             "returns", "region,refunds", "east,2", ""]
    assert missing["status"] == "failed"
    assert missing["error"] == "http command: the response has no result refunds (config.result_keys: sales, refunds)"


def test_each_named_query_runs_on_a_session_of_its_own(world: World, warehouse: Warehouse,
                                                       http_sink: HttpSink) -> None:
    # A session-wide set_config in the first query must not lift the second one's timeout.
    command = _sql_tiles(world, warehouse, {"lift": "SELECT set_config('statement_timeout', '0', false) AS lifted",
                                            "sleep": "SELECT pg_sleep(20) AS slept"}, timeout_s=1)
    started = time.monotonic()
    run = _deliver(world, http_sink, command)

    assert run["status"] == "failed" and run["error"].startswith("sql command (sleep): QueryCanceled")
    assert "statement timeout" in run["error"] and time.monotonic() - started < 15


def test_timeout_s_and_the_byte_cap_hold_for_all_the_queries_together(world: World, warehouse: Warehouse,
                                                                      http_sink: HttpSink) -> None:
    slow = _sql_tiles(world, warehouse, {"first": "SELECT pg_sleep(0.6) AS a", "second": "SELECT pg_sleep(0.6) AS b"},
                      timeout_s=1)
    timed_out = _deliver(world, http_sink, slow)
    # The worker's cap is 1 MiB (conftest): each result is 640 KiB, both together 1.25 MiB.
    big = "SELECT repeat('x', 65536) AS blob FROM generate_series(1, 10)"
    large = _deliver(world, http_sink, _sql_tiles(world, warehouse, {"one": big, "two": big}))

    assert timed_out["status"] == "failed" and timed_out["error"].startswith("sql command (second):")
    # Cancelled by what was left of the budget, or (on a slow machine) refused because none was left.
    assert "statement timeout" in timed_out["error"] or "was spent before" in timed_out["error"]
    assert large["status"] == "failed"
    assert large["error"] == ("sql command (two): results together larger than 1048576 bytes "
                              "(PUNCTUAL_COMMAND_MAX_OUTPUT_BYTES)")
