"""What one tenant cannot do to a worker: hold it past a time limit, trickle an answer for ever, pass its
deliveries quota; and a slow worker that is alive is never doubled, a run that kills its workers is failed,
what a dead worker had only reserved is sent within seconds."""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import Iterator

import pytest

from shared.db import transaction
from shared.settings import Settings
from shared.sql import artifacts as artifact_sql
from shared.sql import deliveries as delivery_sql
from tests.integration.workers.conftest import World
from tests.processes import Process, start_worker, wait_for
from tests.servers import HttpSink, ReceivedRequest, SmtpSink, TrickleServer

QUOTA = 30


@pytest.fixture(scope="module")
def worker(base_settings: Settings, database_url: str, smtp_sink: SmtpSink,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[Process]:
    # This module's own worker: short limits, a small quota, and a fast verdict on dead workers.
    from tests.services import truncate_all

    truncate_all(database_url)
    proc = start_worker(
        base_settings, tmp_path_factory.mktemp("limits-logs"), concurrency=3,
        PUNCTUAL_SMTP_PORT=str(smtp_sink.port), PUNCTUAL_RETRY_SWEEP_INTERVAL="0.3",
        PUNCTUAL_COMMAND_TIME_LIMIT="3", PUNCTUAL_HTTP_READ_TIMEOUT="1",
        PUNCTUAL_QUOTA_DELIVERIES_PER_HOUR=str(QUOTA),
        PUNCTUAL_WORKER_HEARTBEAT_INTERVAL="1", PUNCTUAL_WORKER_DEAD_AFTER="3",
    )
    wait_for(lambda: "ready" in proc.output() or not proc.alive(), timeout=60)
    assert proc.alive(), proc.output()
    yield proc
    proc.stop()


def test_a_template_loop_stops_at_the_command_time_limit(world: World, http_sink: HttpSink) -> None:
    loop = "{% for i in range(99999) %}{% for j in range(99999) %}{% endfor %}{% endfor %}"
    command = world.command("template", {"template": loop})
    sid = world.schedule({"type": "webhook", "url": f"{http_sink.url}/loop"}, command_id=command)
    started = time.monotonic()
    run = world.wait_run(world.fire(sid), timeout=30)

    assert run["status"] == "failed"
    assert "exceeded its time limit of 3 s (PUNCTUAL_COMMAND_TIME_LIMIT)" in run["error"]
    assert time.monotonic() - started < 15 and http_sink.requests == []


def test_an_http_renderer_trickling_its_answer_is_cut_at_the_read_timeout(world: World,
                                                                          http_sink: HttpSink) -> None:
    trickle = TrickleServer(interval_s=0.5, length=100).start()  # 50 s for the whole body, 0.5 s per byte
    try:
        command = world.command("http", {"url": f"{trickle.url}/render"})
        sid = world.schedule({"type": "webhook", "url": f"{http_sink.url}/never"}, command_id=command)
        started = time.monotonic()
        run = world.wait_run(world.fire(sid), timeout=30)
    finally:
        trickle.stop()

    assert run["status"] == "failed" and "did not arrive within the read timeout" in run["error"]
    assert time.monotonic() - started < 10


def test_a_webhook_receiver_trickling_its_answer_is_retried_not_waited_for(world: World) -> None:
    trickle = TrickleServer(interval_s=0.5, length=100).start()
    try:
        sid = world.schedule({"type": "webhook", "url": f"{trickle.url}/hook"}, retry_max_attempts=2)
        run = world.wait_run(world.fire(sid), timeout=30)
    finally:
        trickle.stop()

    [delivery] = world.deliveries(run["id"])
    assert delivery["status"] == "failed" and delivery["attempts"] == 2
    assert "did not arrive within the read timeout" in delivery["last_error"]


def test_a_run_past_the_deliveries_quota_fails_naming_it(world: World, http_sink: HttpSink) -> None:
    within = world.schedule({"type": "webhook", "url": f"{http_sink.url}/within"}, run_mode="per_subscriber",
                            subscribers=world.users(25, prefix="within"))
    first = world.wait_run(world.fire(within), timeout=30)
    over = world.schedule({"type": "webhook", "url": f"{http_sink.url}/over"}, run_mode="per_subscriber",
                          subscribers=world.users(10, prefix="over"), name="Over")
    refused = world.wait_run(world.fire(over), timeout=30)

    assert first["status"] == "complete" and first["deliveries_delivered"] == 25
    assert refused["status"] == "failed" and world.deliveries(refused["id"]) == []
    assert refused["error"] == (f"Quota exceeded: at most {QUOTA} deliveries per hour per organization "
                                "(PUNCTUAL_QUOTA_DELIVERIES_PER_HOUR); 25 in the last hour and this run would add 10")
    assert not [r for r in http_sink.requests if r.path == "/over"]


def test_a_slow_receiver_held_by_a_live_worker_is_never_sent_twice(world: World, http_sink: HttpSink) -> None:
    def slow(request: ReceivedRequest, index: int) -> tuple[int, dict[str, str], bytes]:
        time.sleep(0.8)  # under the read timeout, but the batch takes far longer than dead_after (3 s)
        return 200, {"Content-Type": "application/json"}, b"{}"

    http_sink.responder = slow
    sid = world.schedule({"type": "webhook", "url": f"{http_sink.url}/slow"}, run_mode="per_subscriber",
                         subscribers=world.users(24, prefix="slow"))
    run = world.wait_run(world.fire(sid), timeout=60)

    assert run["status"] == "complete" and run["deliveries_delivered"] == 24
    ids = [r.headers["webhook-id"] for r in http_sink.requests]
    assert len(ids) == len(set(ids)) == 24
    assert world.one("SELECT count(*) AS n FROM delivery_attempts a JOIN deliveries d ON d.id = a.delivery_id "
                     "WHERE d.run_id = %s", run["id"])["n"] == 24


def test_a_run_whose_workers_keep_dying_is_failed_not_tried_for_ever(world: World, http_sink: HttpSink) -> None:
    sid = world.schedule({"type": "webhook", "url": f"{http_sink.url}/doomed"})
    dead = f"killed-{uuid.uuid4().hex[:6]}"
    with transaction(world.pool) as conn:
        conn.execute("INSERT INTO worker_heartbeats (worker_id, hostname, pid, last_seen_at) "
                     "VALUES (%s, 'elsewhere', 1, now() - interval '1 minute')", (dead,))
        row = conn.execute(
            """INSERT INTO runs (organization_id, schedule_id, scheduled_for, trigger, status, published_at,
                                 started_at, claimed_by, claims)
               VALUES (%s, %s, now(), 'manual', 'running', now(), now(), %s, 3) RETURNING id""",
            (world.org, sid, dead)).fetchone()
    assert row is not None
    # The sweep finds the run of a dead worker and publishes it; its fourth claim fails it.
    run = world.wait_run(row[0], timeout=30)

    assert run["status"] == "failed" and run["error"].startswith("abandoned: 3 workers died while producing it")
    assert http_sink.requests == []


def test_deliveries_whose_message_a_dead_worker_reserved_are_sent_within_seconds(world: World,
                                                                                  http_sink: HttpSink) -> None:
    # A worker prefetched the message of these deliveries and was killed before it claimed them: the
    # broker holds it unacknowledged until its visibility timeout (or lost it), and no row names the worker.
    sid = world.schedule({"type": "webhook", "url": f"{http_sink.url}/reserved"})
    dead = f"killed-{uuid.uuid4().hex[:6]}"
    body = b'{"rows": []}'
    with transaction(world.pool) as conn:
        conn.execute("INSERT INTO worker_heartbeats (worker_id, hostname, pid, last_seen_at) "
                     "VALUES (%s, 'elsewhere', 1, now() - interval '1 minute')", (dead,))
        row = conn.execute(
            """INSERT INTO runs (organization_id, schedule_id, scheduled_for, trigger, status, published_at,
                                 started_at, planned_at, expanded_at, claimed_by, claims)
               VALUES (%s, %s, now(), 'manual', 'running', now(), now(), now(), now(), %s, 1) RETURNING id""",
            (world.org, sid, dead)).fetchone()
        assert row is not None
        run_id = row[0]
        [artifact] = artifact_sql.insert_artifacts(conn, [artifact_sql.NewArtifact(
            world.org, run_id, None, "application/json", "report.json", body, hashlib.sha256(body).hexdigest())])
        target = delivery_sql.Target(world.org, run_id, sid, "webhook", 3)
        # Inserted as the producer leaves them, with the safety net an hour ahead, and never published here.
        delivery_sql.insert_many(conn, [(target, delivery_sql.NewDelivery(f"r{n}", None, artifact))
                                        for n in range(5)], 3600)
    started = time.monotonic()

    run = world.wait_run(run_id, timeout=20)

    assert run["status"] == "complete" and run["deliveries_delivered"] == 5
    assert time.monotonic() - started < 15
    assert len({r.headers["webhook-id"] for r in http_sink.requests if r.path == "/reserved"}) == 5
    # Seen dead once: its heartbeat is gone, so the next sweep publishes nothing again.
    assert world.one("SELECT count(*) AS n FROM worker_heartbeats WHERE worker_id = %s", dead)["n"] == 0
