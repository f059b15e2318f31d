"""kill -9 of one of two delivery workers while deliveries are in flight: nothing lost, duplicates only among
what the dead worker was sending (with the same idempotency key), everything delivered within 60 s."""

from __future__ import annotations

import json
import time
import uuid
from collections import Counter
from collections.abc import Callable
from email import message_from_bytes
from pathlib import Path

from tests.chaos.conftest import DELIVER_QUEUES, StartWorker
from tests.integration.workers.conftest import World
from tests.processes import Process, wait_for
from tests.servers import HttpSink, ReceivedRequest, SftpServer, SmtpSink

RECIPIENTS = 300


def _slow(delay_s: float) -> Callable[[ReceivedRequest, int], tuple[int, dict[str, str], bytes]]:
    def answer(request: ReceivedRequest, index: int) -> tuple[int, dict[str, str], bytes]:
        time.sleep(delay_s)  # a receiver that takes a moment: deliveries are in flight when the kill comes
        return 200, {"Content-Type": "application/json"}, b"{}"
    return answer


def _kill_mid_flight(world: World, run_id: uuid.UUID, workers: list[Process], received: Callable[[], int],
                     start: StartWorker, **env: str) -> float:
    """Once some deliveries arrived, SIGKILL a worker that is sending some right now and start a new one;
    return the time of the kill."""
    by_pid = {w.proc.pid: w for w in workers}

    def sending_worker() -> Process | None:
        if received() < 20:
            return None
        holders = world.all("SELECT DISTINCT claimed_by FROM deliveries WHERE run_id = %s AND status = 'sending'",
                            run_id)
        pids = {int(h["claimed_by"].split(":")[1]) for h in holders if h["claimed_by"]}
        return next((by_pid[pid] for pid in pids if pid in by_pid), None)

    victim = wait_for(sending_worker, timeout=60, interval=0.02)
    victim.kill()
    killed_at = time.monotonic()
    start(DELIVER_QUEUES, **env)
    world.wait_run(run_id, timeout=90)
    return killed_at


def _interrupted(world: World, run_id: uuid.UUID) -> set[str]:
    rows = world.all("""SELECT DISTINCT d.id FROM delivery_attempts a JOIN deliveries d ON d.id = a.delivery_id
                        WHERE d.run_id = %s AND a.outcome = 'interrupted'""", run_id)
    return {str(r["id"]) for r in rows}


def _settled(world: World, run_id: uuid.UUID) -> dict[str, int]:
    rows = world.all("SELECT status, count(*) AS n FROM deliveries WHERE run_id = %s GROUP BY status", run_id)
    return {r["status"]: r["n"] for r in rows}


def test_killing_a_webhook_worker_mid_batch_loses_nothing(start: StartWorker, chaos_world: Callable[[Process], World],
                                                          http_sink: HttpSink) -> None:
    http_sink.responder = _slow(0.03)
    runs_worker = start("runs")
    workers = [start(DELIVER_QUEUES), start(DELIVER_QUEUES)]  # the production defaults: dead after 20 s
    world = chaos_world(runs_worker)
    sid = world.schedule({"type": "webhook", "url": f"{http_sink.url}/hook"}, run_mode="per_subscriber",
                         subscribers=world.users(RECIPIENTS))
    run_id = world.fire(sid)

    killed_at = _kill_mid_flight(world, run_id, workers, lambda: len(http_sink.requests), start)
    last = world.one("SELECT max(delivered_at) AS t, min(delivered_at) AS f FROM deliveries WHERE run_id = %s",
                     run_id)

    assert _settled(world, run_id) == {"delivered": RECIPIENTS}
    keys = Counter(r.headers["webhook-id"] for r in http_sink.requests)
    ids = {str(d["id"]) for d in world.deliveries(run_id)}
    assert {k.removeprefix("punctual-") for k in keys} == ids  # every delivery arrived, under its own key
    duplicated = {k.removeprefix("punctual-") for k, n in keys.items() if n > 1}
    # A duplicate is only ever a delivery the dead worker was sending when it died, sent again with
    # the same webhook-id, so a receiver that keys on it drops the second copy.
    taken_over = _interrupted(world, run_id)
    assert taken_over, "the kill came when the worker held nothing: the test proved nothing"
    assert duplicated <= taken_over and len(duplicated) <= 100
    elapsed = (last["t"] - last["f"]).total_seconds()
    assert time.monotonic() - killed_at < 60 and elapsed < 90


def test_killing_an_email_worker_mid_batch_loses_nothing(start: StartWorker,
                                                         chaos_world: Callable[[Process], World]) -> None:
    sink = SmtpSink().start()
    fast = {"PUNCTUAL_WORKER_DEAD_AFTER": "6", "PUNCTUAL_WORKER_HEARTBEAT_INTERVAL": "1",
            "PUNCTUAL_SMTP_PORT": str(sink.port), "PUNCTUAL_RETRY_SWEEP_INTERVAL": "1"}
    try:
        runs_worker = start("runs", **fast)
        workers = [start(DELIVER_QUEUES, **fast), start(DELIVER_QUEUES, **fast)]
        world = chaos_world(runs_worker)
        sid = world.schedule({"type": "email"}, subscribers=world.users(RECIPIENTS, prefix="kill"), fan_out=True)
        run_id = world.fire(sid)

        _kill_mid_flight(world, run_id, workers, lambda: len(sink.messages), start, **fast)

        assert _settled(world, run_id) == {"delivered": RECIPIENTS}
        ids = Counter(message_from_bytes(m.content)["Message-ID"] for m in sink.messages)
        assert len(ids) == RECIPIENTS
        duplicated = {i.strip("<>").split("@")[0] for i, n in ids.items() if n > 1}
        taken_over = _interrupted(world, run_id)
        assert taken_over and duplicated <= taken_over
    finally:
        sink.stop()


def test_killing_an_sftp_worker_mid_batch_leaves_no_partial_file(start: StartWorker,
                                                                  chaos_world: Callable[[Process], World],
                                                                  tmp_path: Path) -> None:
    root = tmp_path / "sftp-root"
    root.mkdir()
    server = SftpServer(root).start()
    fast = {"PUNCTUAL_WORKER_DEAD_AFTER": "6", "PUNCTUAL_WORKER_HEARTBEAT_INTERVAL": "1",
            "PUNCTUAL_RETRY_SWEEP_INTERVAL": "1"}
    try:
        runs_worker = start("runs", **fast)
        workers = [start(DELIVER_QUEUES, **fast), start(DELIVER_QUEUES, **fast)]
        world = chaos_world(runs_worker)
        sid = world.schedule({"type": "sftp", "host": "127.0.0.1", "port": server.port, "username": server.username,
                              "host_key": server.host_key_line, "directory": "/",
                              "filename_template": "report-{user}.{ext}"},
                             secrets={"password": server.password}, run_mode="per_subscriber",
                             subscribers=world.users(RECIPIENTS, prefix="file"), format="json")
        run_id = world.fire(sid)

        _kill_mid_flight(world, run_id, workers,
                         lambda: sum(1 for op in server.operations if op[0] == "rename"), start, **fast)

        assert _settled(world, run_id) == {"delivered": RECIPIENTS}
        assert _interrupted(world, run_id), "the kill came when the worker held nothing"
        files = sorted(p.name for p in root.iterdir())
        assert len(files) == RECIPIENTS and not [f for f in files if f.endswith(".part")]
        for path in root.iterdir():  # every file whole: a reader never sees a partial upload
            assert json.loads(path.read_bytes())["subscriber"]["email"].startswith("file")
    finally:
        server.stop()
