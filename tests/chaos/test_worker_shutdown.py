"""SIGTERM to a worker in the middle of a run, as `docker stop` (the main process only) and Procfile platforms
(the whole process group) send it: the tasks in flight finish, the worker removes its heartbeat and exits, and
a worker started after it carries on at once. Every delivery arrives exactly once; no chunk is produced twice."""

from __future__ import annotations

import json
import os
import re
import signal
import time
import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.chaos.conftest import DELIVER_QUEUES, StartWorker
from tests.integration.workers.conftest import World
from tests.processes import Process, wait_for
from tests.servers import HttpSink, ReceivedRequest

# Settled within this long of the new worker starting: far below PUNCTUAL_WORKER_DEAD_AFTER (20 s) and the
# broker's visibility timeout (30 s), so nothing left behind waited for either.
CARRIED_ON_WITHIN_S = 15.0


def _slow(hook_s: float, render_s: float) -> Callable[[ReceivedRequest, int], tuple[int, dict[str, str], bytes]]:
    def answer(request: ReceivedRequest, index: int) -> tuple[int, dict[str, str], bytes]:
        # A receiver (/hook) and a renderer (/render, the http command) that take a moment, so that
        # deliveries and chunks are in flight when the signal comes.
        time.sleep(render_s if request.path.startswith("/render") else hook_s)
        body = request.body if request.path.startswith("/render") else b"{}"
        return 200, {"Content-Type": "application/json"}, body
    return answer


def _process_ids(proc: Process) -> set[int]:
    """The worker's main process and its pool children (prefork), which heartbeat under their own pids."""
    children = Path(f"/proc/{proc.proc.pid}/task/{proc.proc.pid}/children").read_text().split()
    return {proc.proc.pid, *(int(c) for c in children)}


def _heartbeats(world: World, pids: set[int]) -> list[str]:
    rows = world.all("SELECT worker_id, pid FROM worker_heartbeats")
    return [r["worker_id"] for r in rows if r["pid"] in pids]


def _terminate(proc: Process, *, group: bool) -> float:
    """SIGTERM the worker (its main process, or its whole process group) and return how long it took to exit."""
    started = time.monotonic()
    if group:
        os.killpg(proc.proc.pid, signal.SIGTERM)
    else:
        os.kill(proc.proc.pid, signal.SIGTERM)
    code = proc.proc.wait(timeout=60)
    assert code == 0, f"worker exited {code}:\n{proc.output()[-3000:]}"
    return time.monotonic() - started


def _held_by(world: World, table: str, run_id: uuid.UUID, pids: set[int], done: str) -> int:
    rows = world.all(f"SELECT claimed_by FROM {table} WHERE run_id = %s AND claimed_by IS NOT NULL AND NOT ({done})",
                     run_id)
    return sum(1 for r in rows if int(r["claimed_by"].split(":")[1]) in pids)


def _assert_each_delivered_once(world: World, run_id: uuid.UUID, sink: HttpSink, count: int) -> None:
    deliveries = world.deliveries(run_id)
    assert Counter(d["status"] for d in deliveries) == {"delivered": count}
    keys = Counter(r.headers["webhook-id"] for r in sink.requests if r.path.startswith("/hook"))
    assert {k.removeprefix("punctual-") for k in keys} == {str(d["id"]) for d in deliveries}, "a delivery was lost"
    assert max(keys.values()) == 1, f"sent twice: {[k for k, n in keys.items() if n > 1][:5]}"
    attempts = world.all("""SELECT a.outcome, count(*) AS n FROM delivery_attempts a JOIN deliveries d
                            ON d.id = a.delivery_id WHERE d.run_id = %s GROUP BY 1""", run_id)
    assert {r["outcome"]: r["n"] for r in attempts} == {"delivered": count}, "an attempt was interrupted"


# On both brokers (`make test` runs these on RabbitMQ too): messages a stopping worker took but had not
# started must go back to the queue, which Redis and RabbitMQ do differently.
@pytest.mark.broker
def test_sigterm_to_a_delivery_worker_finishes_its_batches_and_loses_nothing(
        start: StartWorker, chaos_world: Callable[[Process], World], http_sink: HttpSink) -> None:
    recipients = 800
    http_sink.responder = _slow(hook_s=0.05, render_s=0)
    runs_worker = start("runs")
    stopping = start(DELIVER_QUEUES)  # threads: one process, whose heartbeat is its main process's
    world = chaos_world(runs_worker)
    sid = world.schedule({"type": "webhook", "url": f"{http_sink.url}/hook"}, run_mode="per_subscriber",
                         subscribers=world.users(recipients))
    run_id = world.fire(sid)
    pids = _process_ids(stopping)
    wait_for(lambda: len(http_sink.requests) >= 50
             and _held_by(world, "deliveries", run_id, pids, "status <> 'sending'") > 0, timeout=60, interval=0.02)

    took = _terminate(stopping, group=False)

    # It finished what it held: nothing is left 'sending' under its id, and its heartbeat is gone, so
    # nobody would have to wait PUNCTUAL_WORKER_DEAD_AFTER for anything it held.
    assert _held_by(world, "deliveries", run_id, pids, "status <> 'sending'") == 0
    assert _heartbeats(world, pids) == []
    arrived = len(http_sink.requests)
    assert 50 <= arrived < recipients, "the signal came when nothing was left to do: the test proved nothing"
    assert took < 10, f"warm shutdown took {took:.1f}s"

    started = time.monotonic()
    start(DELIVER_QUEUES)
    world.wait_run(run_id, timeout=60)
    assert time.monotonic() - started < CARRIED_ON_WITHIN_S
    _assert_each_delivered_once(world, run_id, http_sink, recipients)


@pytest.mark.broker
@pytest.mark.parametrize("group", [False, True], ids=["main-process", "process-group"])
def test_sigterm_to_a_runs_worker_finishes_its_chunks_and_produces_none_twice(
        start: StartWorker, chaos_world: Callable[[Process], World], http_sink: HttpSink, group: bool) -> None:
    subscribers, per_chunk = 120, 10
    http_sink.responder = _slow(hook_s=0, render_s=0.1)  # a chunk takes about a second to produce
    env = {"PUNCTUAL_SUBSCRIBERS_PER_CHUNK": str(per_chunk)}
    stopping = start("runs", **env)  # prefork: each child heartbeats and claims under its own pid
    start(DELIVER_QUEUES)
    world = chaos_world(stopping)
    command = world.command("http", {"url": f"{http_sink.url}/render"})
    sid = world.schedule({"type": "webhook", "url": f"{http_sink.url}/hook"}, run_mode="per_subscriber",
                         command_id=command, format="json", subscribers=world.users(subscribers))
    run_id = world.fire(sid)
    pids = _process_ids(stopping)
    wait_for(lambda: world.all("SELECT count(*) AS n FROM run_chunks WHERE run_id = %s AND done_at IS NOT NULL",
                               run_id)[0]["n"] >= 2
             and _held_by(world, "run_chunks", run_id, pids, "done_at IS NOT NULL") > 0, timeout=60, interval=0.02)

    took = _terminate(stopping, group=group)

    assert _held_by(world, "run_chunks", run_id, pids, "done_at IS NOT NULL") == 0
    assert _heartbeats(world, pids) == []
    open_chunks = world.all("SELECT count(*) AS n FROM run_chunks WHERE run_id = %s AND done_at IS NULL",
                            run_id)[0]["n"]
    assert open_chunks > 0, "the signal came when every chunk was done: the test proved nothing"
    assert took < 10, f"warm shutdown took {took:.1f}s"

    started = time.monotonic()
    start("runs", **env)
    world.wait_run(run_id, timeout=60)
    assert time.monotonic() - started < CARRIED_ON_WITHIN_S
    # The command ran once per subscriber: no chunk was produced twice, none was dropped.
    rendered = Counter(json.loads(r.body)["subscriber"]["id"] for r in http_sink.requests
                       if r.path.startswith("/render"))
    assert len(rendered) == subscribers and max(rendered.values()) == 1, rendered.most_common(3)
    _assert_each_delivered_once(world, run_id, http_sink, subscribers)


def test_sigquit_still_stops_a_runs_worker_at_once(start: StartWorker, chaos_world: Callable[[Process], World],
                                                  http_sink: HttpSink) -> None:
    # The children drop a SIGTERM that is not their parent's; a cold shutdown (SIGQUIT) is the parent
    # terminating them, so it must still end a chunk in the middle, and the work is taken up after it.
    subscribers, per_chunk = 20, 10
    http_sink.responder = _slow(hook_s=0, render_s=1.0)  # a chunk takes about ten seconds
    env = {"PUNCTUAL_SUBSCRIBERS_PER_CHUNK": str(per_chunk), "PUNCTUAL_WORKER_DEAD_AFTER": "4",
           "PUNCTUAL_WORKER_HEARTBEAT_INTERVAL": "1", "PUNCTUAL_RETRY_SWEEP_INTERVAL": "0.5"}
    stopping = start("runs", **env)
    start(DELIVER_QUEUES, **env)
    world = chaos_world(stopping)
    command = world.command("http", {"url": f"{http_sink.url}/render"})
    sid = world.schedule({"type": "webhook", "url": f"{http_sink.url}/hook"}, run_mode="per_subscriber",
                         command_id=command, format="json", subscribers=world.users(subscribers))
    run_id = world.fire(sid)
    pids = _process_ids(stopping)
    wait_for(lambda: _held_by(world, "run_chunks", run_id, pids, "done_at IS NOT NULL") > 0, timeout=60,
             interval=0.02)

    started = time.monotonic()
    os.kill(stopping.proc.pid, signal.SIGQUIT)
    stopping.proc.wait(timeout=30)
    assert time.monotonic() - started < 8
    # It did not wait for the chunks: they are left unfinished under the stopped worker's children.
    assert _held_by(world, "run_chunks", run_id, pids, "done_at IS NOT NULL") > 0, "the cold shutdown waited"
    assert not any(Path(f"/proc/{pid}").exists() for pid in pids)

    start("runs", **env)
    world.wait_run(run_id, timeout=60)
    _assert_each_delivered_once(world, run_id, http_sink, subscribers)


@pytest.mark.broker
def test_a_task_handed_to_a_pool_process_as_sigterm_comes_runs_once_and_the_worker_exits_at_once(
        start: StartWorker, chaos_world: Callable[[Process], World], http_sink: HttpSink) -> None:
    # The race made certain: the pool process is stopped (SIGSTOP) while its parent hands it a task, so the
    # task sits in the process's pipe, not yet acknowledged to the parent, when the warm shutdown begins.
    # It is resumed once the shutdown has begun: it reads the task and runs it, as it would have a moment later.
    stopping = start("runs", concurrency=1)
    start(DELIVER_QUEUES)
    world = chaos_world(stopping)
    sid = world.schedule({"type": "webhook", "url": f"{http_sink.url}/hook"})
    (child,) = _process_ids(stopping) - {stopping.proc.pid}
    os.kill(child, signal.SIGSTOP)
    try:
        run_id = world.fire(sid)
        received = wait_for(lambda: re.search(r"start_batch\[([0-9a-f-]+)\] received", stopping.output()), timeout=20)
        task_id = received.group(1)
        time.sleep(0.5)  # the parent writes the task into the stopped process's pipe
        started = time.monotonic()
        os.kill(stopping.proc.pid, signal.SIGTERM)
        wait_for(lambda: "Warm shutdown" in stopping.output(), timeout=10, interval=0.02)
        time.sleep(2)  # the consumer stops, and flushes the pool, about half a second after the signal here
    finally:
        os.kill(child, signal.SIGCONT)
    code = stopping.proc.wait(timeout=60)
    took = time.monotonic() - started
    assert code == 0, stopping.output()[-3000:]
    assert f"start_batch[{task_id}] succeeded" in stopping.output(), "the pool process did not run the task"
    assert took < 10, f"warm shutdown took {took:.1f}s"

    # It ran, so its message was acknowledged: a worker started after it does not run it a second time.
    carrying_on = start("runs")
    assert world.wait_run(run_id, timeout=30)["status"] == "complete"
    time.sleep(1)
    assert f"start_batch[{task_id}] received" not in carrying_on.output(), "a task that ran was delivered again"
    assert [r.path for r in http_sink.requests] == ["/hook"]
