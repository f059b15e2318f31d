"""Deliveries move in batches on reused connections: HTTP keep-alive, one SMTP connection and one SFTP
session per batch; a batch is claimed once, and a duplicate message for it does nothing."""

from __future__ import annotations

import json
import uuid
from collections import Counter

from shared.celery_app import DELIVERY_QUEUES, TASK_DELIVER
from tests.integration.workers.conftest import World
from tests.processes import wait_for
from tests.servers import HttpSink, SftpServer, SmtpSink


def test_a_large_run_is_sent_in_batches_on_keep_alive_connections(world: World, http_sink: HttpSink) -> None:
    users = world.users(600)
    sid = world.schedule({"type": "webhook", "url": f"{http_sink.url}/many"}, run_mode="per_subscriber",
                         subscribers=users)
    run = world.wait_run(world.fire(sid), timeout=90)

    assert run["status"] == "complete" and run["deliveries_delivered"] == 600
    assert len(http_sink.requests) == 600
    assert {json.loads(r.body)["subscriber"]["id"] for r in http_sink.requests} == {str(u) for u in users}
    # A new connection per POST would be 600 connections; kept-alive ones (up to the batch's
    # PUNCTUAL_DELIVERY_CONCURRENCY per task thread of the worker's processes) carry them all.
    connections = Counter(r.connection for r in http_sink.requests)
    assert len(connections) <= 3 * 16, len(connections)
    assert max(connections.values()) >= 10
    # Every delivery went out once and recorded exactly one delivered attempt.
    attempts = world.all("""SELECT a.outcome, count(*) AS n FROM delivery_attempts a
                            JOIN deliveries d ON d.id = a.delivery_id WHERE d.run_id = %s GROUP BY a.outcome""",
                         run["id"])
    errors = world.all("""SELECT a.error FROM delivery_attempts a JOIN deliveries d ON d.id = a.delivery_id
                          WHERE d.run_id = %s AND a.outcome <> 'delivered'""", run["id"])
    assert attempts == [{"outcome": "delivered", "n": 600}], errors


def test_a_batch_redelivered_while_or_after_it_is_sent_sends_nothing_twice(world: World,
                                                                           http_sink: HttpSink) -> None:
    users = world.users(40, prefix="again")
    sid = world.schedule({"type": "webhook", "url": f"{http_sink.url}/again"}, run_mode="per_subscriber",
                         subscribers=users)
    run = world.wait_run(world.fire(sid), timeout=60)
    ids = [str(d["id"]) for d in world.deliveries(run["id"])]

    for _ in range(3):  # the broker hands the same batch out again (a lost ack, a sweep racing)
        world.broker.send_task(TASK_DELIVER["webhook"], args=[ids], queue=DELIVERY_QUEUES["webhook"])
    marker = world.schedule({"type": "webhook", "url": f"{http_sink.url}/marker"}, name="Marker")
    world.wait_run(world.fire(marker))
    wait_for(lambda: any(r.path == "/marker" for r in http_sink.requests))

    assert len([r for r in http_sink.requests if r.path == "/again"]) == 40
    doubled = world.all("""SELECT a.delivery_id, a.attempt_number, a.outcome, a.error, a.started_at, d.status
                           FROM delivery_attempts a JOIN deliveries d ON d.id = a.delivery_id
                           WHERE d.run_id = %s AND d.attempts > 1 ORDER BY 1, 2""", run["id"])
    assert doubled == [], doubled
    assert world.one("SELECT count(*) AS n FROM delivery_attempts a JOIN deliveries d ON d.id = a.delivery_id "
                     "WHERE d.run_id = %s", run["id"])["n"] == 40


def test_a_batch_of_emails_uses_one_smtp_connection(world: World, smtp_sink: SmtpSink) -> None:
    smtp_sink.messages.clear()
    users = world.users(150, prefix="mail")
    sid = world.schedule({"type": "email"}, subscribers=users, fan_out=True)
    run = world.wait_run(world.fire(sid), timeout=60)

    assert run["status"] == "complete" and run["deliveries_delivered"] == 150
    mine = [m for m in smtp_sink.messages if m.rcpt_tos[0].startswith("mail")]
    assert len(mine) == 150
    # 150 messages in batches of at most 100: two batches, so at most two connections.
    per_connection = Counter(m.session for m in mine)
    assert len(per_connection) <= 2 and max(per_connection.values()) >= 50, per_connection


def test_a_batch_of_files_uses_one_sftp_session(world: World, sftp_server: SftpServer) -> None:
    users = world.users(30, prefix="files")
    before = sftp_server.connections
    sid = world.schedule({"type": "sftp", "host": "127.0.0.1", "port": sftp_server.port,
                          "username": sftp_server.username, "host_key": sftp_server.host_key_line,
                          "directory": "/", "filename_template": f"batch-{uuid.uuid4().hex[:6]}-{{user}}.{{ext}}"},
                         secrets={"password": sftp_server.password}, run_mode="per_subscriber", subscribers=users)
    run = world.wait_run(world.fire(sid), timeout=60)

    assert run["status"] == "complete" and run["deliveries_delivered"] == 30
    renamed = [op for op in sftp_server.operations if op[0] == "rename" and "/batch-" in op[2]]
    assert len(renamed) == 30
    assert sftp_server.connections - before == 1  # 30 files of one batch, one session
