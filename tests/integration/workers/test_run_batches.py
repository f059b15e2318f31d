"""Batches of runs: one message names many runs, each starts and completes exactly once."""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from shared.celery_app import RUNS_QUEUE, TASK_EXECUTE_RUNS, TASK_START_RUNS
from shared.db import transaction
from tests.integration.workers.conftest import World
from tests.servers import HttpSink

SLOT = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
CHUNK = 100  # the default PUNCTUAL_RUNS_PER_MESSAGE: a start_batch of 250 ids becomes 3 execute_batch messages


def insert_runs(world: World, schedule_id: uuid.UUID, count: int, *, first: int = 0,
                status: str = "published", started_ago_s: float | None = None,
                claimed_by: str | None = None) -> list[uuid.UUID]:
    """Insert runs one minute apart, as beat's relay leaves them (or as a worker left them)."""
    with transaction(world.pool) as conn:
        rows = conn.execute(
            """INSERT INTO runs (organization_id, schedule_id, scheduled_for, trigger, status, published_at,
                                 started_at, claimed_by)
               SELECT %s, %s, %s + g * interval '1 minute', 'schedule', %s, now(),
                      CASE WHEN %s::float8 IS NULL THEN NULL ELSE now() - make_interval(secs => %s::float8) END, %s
               FROM generate_series(%s::int, %s::int) AS g ORDER BY g RETURNING id""",
            (world.org, schedule_id, SLOT, status, started_ago_s, started_ago_s, claimed_by, first, first + count - 1),
        ).fetchall()
    return [uuid.UUID(str(r[0])) for r in rows]


def worker_heartbeat(world: World, worker_id: str, seen_ago_s: float) -> None:
    """A worker process's heartbeat row, as its heartbeat thread writes it."""
    with transaction(world.pool) as conn:
        conn.execute("INSERT INTO worker_heartbeats (worker_id, hostname, pid, last_seen_at) "
                     "VALUES (%s, 'elsewhere', 1, now() - make_interval(secs => %s))", (worker_id, seen_ago_s))


def fire_batch(world: World, run_ids: list[uuid.UUID], task: str = TASK_START_RUNS) -> None:
    world.broker.send_task(task, args=[[str(r) for r in run_ids]], queue=RUNS_QUEUE)


def runs(world: World, run_ids: list[uuid.UUID]) -> dict[uuid.UUID, dict[str, Any]]:
    return {r["id"]: r for r in world.all("SELECT * FROM runs WHERE id = ANY(%s)", run_ids)}


def posted_run_ids(sink: HttpSink, path: str) -> list[str]:
    return [json.loads(r.body)["run_id"] for r in sink.requests if r.path == path]


def test_a_batch_starts_and_completes_every_run_exactly_once_and_a_redelivery_duplicates_nothing(
        world: World, http_sink: HttpSink) -> None:
    sid = world.schedule({"type": "webhook", "url": f"{http_sink.url}/batch"})
    ids = insert_runs(world, sid, 250)
    fire_batch(world, ids)  # as beat publishes: one start_batch message naming every run
    for run_id in ids:
        world.wait_run(run_id, timeout=60)

    first = runs(world, ids)
    assert {r["status"] for r in first.values()} == {"complete"}
    assert all(r["started_at"] is not None and r["deliveries_delivered"] == 1 for r in first.values())
    assert sorted(posted_run_ids(http_sink, "/batch")) == sorted(str(i) for i in ids)  # each once
    assert world.one("SELECT count(*) AS n FROM deliveries WHERE run_id = ANY(%s)", ids)["n"] == 250

    # The same beat message and a chunk of it delivered again (a broker redelivery). A fresh run in
    # each chunk tells us when the worker has been through that chunk: they are claimed together.
    sentinels = insert_runs(world, sid, 3, first=1000)
    again = [*ids]
    for n, sentinel in enumerate(sentinels):
        again.insert(n * CHUNK, sentinel)
    fire_batch(world, again)
    fire_batch(world, [*ids[:120], sentinels[0]], TASK_EXECUTE_RUNS)
    for run_id in sentinels:
        assert world.wait_run(run_id, timeout=60)["status"] == "complete"

    after = runs(world, ids)
    for run_id in ids:
        assert after[run_id]["started_at"] == first[run_id]["started_at"]  # never claimed twice
        assert after[run_id]["finished_at"] == first[run_id]["finished_at"]
    assert sorted(posted_run_ids(http_sink, "/batch")) == sorted(str(i) for i in [*ids, *sentinels])
    assert world.one("SELECT count(*) AS n FROM deliveries WHERE run_id = ANY(%s)", ids)["n"] == 250


def test_a_batch_of_slow_runs_hands_what_it_has_not_begun_to_idle_workers(world: World, http_sink: HttpSink) -> None:
    # Eight runs whose command answers in 0.6 s, in one message: alone, one process would take them one
    # after another (about 5 s). After HAND_OFF_AFTER_S (1 s) the batch begins no more runs and publishes
    # the rest for the module worker's other processes, so the runs are carried out by several of them.
    def slow_render(request: Any, index: int) -> tuple[int, dict[str, str], bytes]:
        if request.path == "/slow-render":
            time.sleep(0.6)
        return 200, {"Content-Type": "application/json"}, b'{"ok": true}'

    http_sink.responder = slow_render
    command = world.command("http", {"url": f"{http_sink.url}/slow-render"})
    sid = world.schedule({"type": "webhook", "url": f"{http_sink.url}/slow"}, command_id=command)
    ids = insert_runs(world, sid, 8)
    fire_batch(world, ids, TASK_EXECUTE_RUNS)
    for run_id in ids:
        assert world.wait_run(run_id, timeout=60)["status"] == "complete"

    after = runs(world, ids)
    assert len({r["claimed_by"] for r in after.values()}) >= 2  # spread over processes
    assert all(r["claims"] == 1 for r in after.values())  # a hand-back is not a claim that killed a worker
    posted = [{k.lower(): v for k, v in r.headers.items()}["webhook-id"]
              for r in http_sink.requests if r.path == "/slow"]
    assert len(posted) == len(set(posted)) == 8  # each run's one delivery, sent once
    assert sum(1 for r in http_sink.requests if r.path == "/slow-render") == 8  # each produced once


def test_a_batch_skips_runs_a_live_worker_holds_and_takes_up_runs_whose_worker_died(
        world: World, http_sink: HttpSink) -> None:
    sid = world.schedule({"type": "webhook", "url": f"{http_sink.url}/skip"})
    # Started an hour ago by another worker that still heartbeats (a slow command): never doubled.
    alive, crashed = f"slow-but-alive-{uuid.uuid4().hex[:6]}", f"crashed-{uuid.uuid4().hex[:6]}"
    worker_heartbeat(world, alive, seen_ago_s=1)
    busy = insert_runs(world, sid, 2, status="running", started_ago_s=3600, claimed_by=alive)
    # Started a minute ago by a worker silent for longer than PUNCTUAL_WORKER_DEAD_AFTER, never
    # expanded: that worker died mid-run, so the batch takes it up.
    worker_heartbeat(world, crashed, seen_ago_s=world.settings.worker_dead_after_s + 5)
    abandoned = insert_runs(world, sid, 1, first=10, status="running", started_ago_s=60, claimed_by=crashed)
    fresh = insert_runs(world, sid, 5, first=20)
    # A run whose command fails (nothing listens on port 9) fails alone: the rest of its batch goes on.
    broken_sid = world.schedule({"type": "webhook", "url": f"{http_sink.url}/skip"},
                                command_id=world.command("http", {"url": "http://127.0.0.1:9/render"}))
    broken = insert_runs(world, broken_sid, 1, first=30)
    busy_before = runs(world, busy)

    fire_batch(world, [*busy, *abandoned, *fresh[:2], *broken, *fresh[2:]], TASK_EXECUTE_RUNS)
    for run_id in [*fresh, *abandoned]:
        assert world.wait_run(run_id, timeout=60)["status"] == "complete"
    assert world.wait_run(broken[0], timeout=60)["status"] == "failed"

    busy_after = runs(world, busy)
    for run_id in busy:
        assert busy_after[run_id]["status"] == "running"
        assert busy_after[run_id]["started_at"] == busy_before[run_id]["started_at"]
    assert world.all("SELECT id FROM deliveries WHERE run_id = ANY(%s)", busy) == []
    reclaimed = runs(world, abandoned)[abandoned[0]]
    assert reclaimed["started_at"] > datetime.now(UTC) - timedelta(seconds=60)  # claimed anew
    assert sorted(posted_run_ids(http_sink, "/skip")) == sorted(str(i) for i in [*abandoned, *fresh])


def test_a_batch_that_arrives_while_the_relay_still_holds_its_runs_waits_for_them(world: World,
                                                                                   http_sink: HttpSink) -> None:
    # Beat's relay marks runs published and publishes their message before it commits: a worker fast
    # enough claims while the rows are still locked. Skipping them would leave them published with no
    # message until the relay's republish interval, minutes later.
    sid = world.schedule({"type": "webhook", "url": f"{http_sink.url}/held"})
    ids = insert_runs(world, sid, 5, status="pending")
    with world.pool.connection() as relay, relay.transaction():
        relay.execute("UPDATE runs SET status = 'published', published_at = now() WHERE id = ANY(%s)", (ids,))
        fire_batch(world, ids)
        time.sleep(1.0)  # the worker has the message and waits on the rows
    for run_id in ids:
        assert world.wait_run(run_id, timeout=30)["status"] == "complete"
    assert sorted(posted_run_ids(http_sink, "/held")) == sorted(str(i) for i in ids)
