"""Redis killed (SIGKILL) and restarted empty in the middle of a burst of 1,000 runs: every run finishes and
every delivery arrives, republished from PostgreSQL, with the same workers and beat reconnecting by themselves."""

from __future__ import annotations

import json
import time
from pathlib import Path

from psycopg_pool import ConnectionPool

from shared.settings import Settings
from tests.chaos.conftest import DELIVER_QUEUES, StartWorker
from tests.integration.beat.conftest import insert_schedules, make_org, scalar
from tests.processes import Process, start_beat, wait_for
from tests.servers import HttpSink, ReceivedRequest
from tests.services import RedisServer

RUNS = 1000
# Short republish intervals (300 s by default) so the test waits seconds, not minutes, for what the
# lost Redis held: beat's for runs published but never started, the workers' for deliveries.
FAST = {"PUNCTUAL_REPUBLISH_AFTER": "3", "PUNCTUAL_RETRY_SWEEP_INTERVAL": "1",
        "PUNCTUAL_WORKER_DEAD_AFTER": "6", "PUNCTUAL_WORKER_HEARTBEAT_INTERVAL": "1"}


def _slow(request: ReceivedRequest, index: int) -> tuple[int, dict[str, str], bytes]:
    time.sleep(0.02)  # the burst takes seconds, so the kill lands in the middle of it
    return 200, {"Content-Type": "application/json"}, b"{}"


def _unfinished(pool: ConnectionPool) -> int:
    return int(scalar(pool, "SELECT count(*) FROM runs WHERE status <> 'complete'"))


def test_redis_restarted_empty_mid_burst_loses_no_run(
        start: StartWorker, pool: ConnectionPool, redis_server: RedisServer, http_sink: HttpSink,
        processes: list[Process], settings: Settings, log_dir: Path) -> None:
    http_sink.responder = _slow
    workers = [start("runs", **FAST), start(DELIVER_QUEUES, **FAST), start(DELIVER_QUEUES, **FAST)]
    org = make_org(pool)
    destination = json.dumps({"url": f"{http_sink.url}/burst"}).replace("'", "''")
    insert_schedules(pool, org, RUNS, destination=f"'{destination}'::jsonb")
    beat = start_beat(settings, log_dir, PUNCTUAL_BEAT_REPUBLISH_AFTER="3",
                      PUNCTUAL_BEAT_BATCH_SIZE="100", PUNCTUAL_BEAT_PUBLISH_BATCH="20")
    processes.append(beat)

    wait_for(lambda: len(http_sink.requests) >= 150, timeout=60, interval=0.02)
    redis_server.kill()
    killed_at = time.monotonic()
    in_flight = _unfinished(pool)
    time.sleep(2)
    redis_server.start()  # the same port, nothing in it: every queued and unacknowledged message is gone

    try:
        wait_for(lambda: _unfinished(pool) == 0, timeout=75, interval=0.5)
    except AssertionError:
        states = scalar(pool, "SELECT json_object_agg(status, n) FROM (SELECT status, count(*) n FROM runs "
                              "GROUP BY 1) s")
        logs = "\n".join(p.output()[-3000:] for p in [*workers, beat])
        raise AssertionError(f"runs not finished: {states}\n{logs}") from None
    recovered_s = time.monotonic() - killed_at

    assert in_flight > 100, "the kill came after the burst: the test proved nothing"
    assert scalar(pool, "SELECT count(*) FROM runs") == RUNS
    assert scalar(pool, "SELECT count(*) FROM deliveries WHERE status = 'delivered'") == RUNS
    ids = {str(i) for i in scalar(pool, "SELECT array_agg(id) FROM deliveries")}
    received = {r.headers["webhook-id"].removeprefix("punctual-") for r in http_sink.requests}
    assert received == ids  # every delivery reached the receiver
    # The same processes did it all: none died on the lost connection, none was restarted.
    dead = [p.output()[-3000:] for p in [*workers, beat] if not p.alive()]
    assert not dead, dead
    print(f"redis restart: {in_flight} runs unfinished at the kill, all {RUNS} complete {recovered_s:.1f}s later")
