"""The sql command through a real worker: reads only, one statement, limits it cannot lift, per-tenant sources."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import pytest

from tests.integration.workers.conftest import Warehouse, World
from tests.servers import HttpSink


def _run_query(world: World, warehouse: Warehouse, http_sink: HttpSink, query: str,
               **config: Any) -> dict[str, Any]:
    command = world.command("sql", {"data_source": warehouse.name, "query": query, **config})
    sid = world.schedule({"type": "webhook", "url": f"{http_sink.url}/rows"}, command_id=command,
                         name=f"q-{uuid.uuid4().hex[:6]}")
    return world.wait_run(world.fire(sid))


def _rows(http_sink: HttpSink) -> Any:
    return json.loads(http_sink.requests[-1].body)


def test_sql_command_binds_subscriber_attributes_per_subscriber(world: World, warehouse: Warehouse,
                                                                 http_sink: HttpSink) -> None:
    east = world.user("east@example.test", attributes={"region": "east"})
    west = world.user("west@example.test", attributes={"region": "west"})
    command = world.command("sql", {"data_source": warehouse.name,
                                    "query": "SELECT region, amount FROM wh_sales WHERE region = %(region)s "
                                             "ORDER BY amount"}, filter_keys=["region"])
    sid = world.schedule({"type": "webhook", "url": f"{http_sink.url}/rows"}, command_id=command,
                         run_mode="per_subscriber", subscribers=[east, west])
    run = world.wait_run(world.fire(sid))

    assert run["status"] == "complete", [d["last_error"] for d in world.deliveries(run["id"])]
    bodies = sorted((json.loads(r.body) for r in http_sink.requests), key=len, reverse=True)
    assert bodies == [[{"region": "east", "amount": 5}, {"region": "east", "amount": 10}],
                      [{"region": "west", "amount": 7}]]


@pytest.mark.parametrize("attack", [
    # The simple query protocol would run these as a script: end the read-only transaction, write, read.
    "COMMIT; BEGIN READ WRITE; INSERT INTO wh_sales VALUES ('pwned', 1, 'x'); COMMIT; SELECT 1",
    "SELECT 1) q; COMMIT; BEGIN READ WRITE; INSERT INTO wh_sales VALUES ('pwned', 1, 'x'); COMMIT; "
    "SELECT * FROM (SELECT 1",
    "INSERT INTO wh_sales VALUES ('pwned', 1, 'x') RETURNING region",
    "WITH w AS (INSERT INTO wh_sales VALUES ('pwned', 1, 'x') RETURNING *) SELECT * FROM w",
    "SELECT region FROM wh_sales FOR UPDATE",
    "SET statement_timeout = 0",
    "COMMIT",
])
def test_sql_command_never_writes_or_runs_a_second_statement(world: World, warehouse: Warehouse,
                                                             http_sink: HttpSink, attack: str) -> None:
    run = _run_query(world, warehouse, http_sink, attack)

    assert run["status"] == "failed" and run["error"].startswith("sql command:"), run["error"]
    assert warehouse.execute("SELECT count(*) FROM wh_sales WHERE region = 'pwned'") == [(0,)]
    assert http_sink.requests == []


def test_sql_command_runs_with_limits_it_cannot_see_lifted(world: World, warehouse: Warehouse,
                                                           http_sink: HttpSink) -> None:
    run = _run_query(world, warehouse, http_sink,
                     "SELECT current_setting('statement_timeout') AS statement_timeout, "
                     "current_setting('lock_timeout') AS lock_timeout, "
                     "current_setting('idle_in_transaction_session_timeout') AS idle, "
                     "current_setting('transaction_read_only') AS read_only", timeout_s=2)

    assert run["status"] == "complete"
    assert _rows(http_sink) == [{"statement_timeout": "2s", "lock_timeout": "2s", "idle": "7s", "read_only": "on"}]


def test_set_config_inside_the_query_does_not_lift_its_timeout(world: World, warehouse: Warehouse,
                                                               http_sink: HttpSink) -> None:
    started = time.monotonic()
    run = _run_query(world, warehouse, http_sink,
                     "SELECT set_config('statement_timeout', '0', false) AS lifted, pg_sleep(20) AS slept",
                     timeout_s=0.5)

    assert run["status"] == "failed" and "statement timeout" in run["error"]
    assert time.monotonic() - started < 15


def test_sql_command_stops_at_its_statement_timeout_and_row_limit(world: World, warehouse: Warehouse,
                                                                   http_sink: HttpSink) -> None:
    timed_out = _run_query(world, warehouse, http_sink, "SELECT pg_sleep(10)", timeout_s=0.3)
    limited = _run_query(world, warehouse, http_sink, "SELECT g FROM generate_series(1, 50) g", row_limit=7)

    assert timed_out["status"] == "failed" and "statement timeout" in timed_out["error"]
    assert limited["status"] == "complete"
    assert [r["g"] for r in _rows(http_sink)] == [1, 2, 3, 4, 5, 6, 7]


def test_sql_command_stops_at_the_byte_cap_and_names_it(world: World, warehouse: Warehouse,
                                                        http_sink: HttpSink) -> None:
    # The worker's cap is 1 MiB (conftest); 64 rows of 64 KiB are 4 MiB.
    run = _run_query(world, warehouse, http_sink, "SELECT repeat('x', 65536) AS blob FROM generate_series(1, 64)")

    assert run["status"] == "failed"
    assert "larger than 1048576 bytes" in run["error"] and "PUNCTUAL_COMMAND_MAX_OUTPUT_BYTES" in run["error"]


def test_a_literal_percent_works_beside_named_parameters(world: World, warehouse: Warehouse,
                                                         http_sink: HttpSink) -> None:
    command = world.command("sql", {"data_source": warehouse.name,
                                    "query": "SELECT region, amount % 4 AS rest FROM wh_sales "
                                             "WHERE note LIKE '%%k' OR region LIKE %(pattern)s "
                                             "ORDER BY amount -- 100% sure;"})
    sid = world.schedule({"type": "webhook", "url": f"{http_sink.url}/rows"}, command_id=command,
                         filters={"pattern": "we%"})
    run = world.wait_run(world.fire(sid))

    assert run["status"] == "complete", run["error"]
    assert _rows(http_sink) == [{"region": "west", "rest": 3}, {"region": "east", "rest": 2}]


def test_data_sources_are_resolved_in_the_runs_organization(world: World, warehouse: Warehouse,
                                                            http_sink: HttpSink) -> None:
    other = world.one("INSERT INTO organizations (name) VALUES ('Globex') RETURNING id")["id"]
    world.data_source("theirs", warehouse.url, org=other)

    stolen = _run_query(world, Warehouse(warehouse.url, "theirs"), http_sink, "SELECT 1 AS one")
    granted = _run_query(world, Warehouse(warehouse.url, "granted_wh"), http_sink, "SELECT 1 AS one")

    assert stolen["status"] == "failed" and "unknown data source 'theirs'" in stolen["error"]
    assert granted["status"] == "complete" and _rows(http_sink) == [{"one": 1}]
