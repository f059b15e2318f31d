"""PostgreSQL crashed and restarted under load: the API answers 503 (never 500) while it is down, and API,
beat and workers carry on afterwards without being restarted; work in flight finishes and new work fires."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
import requests
from psycopg_pool import ConnectionPool

from shared.db import create_pool
from shared.settings import Settings
from tests.conftest import Tenant, make_tenant
from tests.integration.beat.conftest import insert_schedules, make_org, scalar
from tests.processes import Process, start_api, start_beat, start_worker, wait_for
from tests.servers import HttpSink, ReceivedRequest
from tests.services import PostgresCluster, postgres_bin_dir, private_database

BEFORE = 300  # runs in flight when PostgreSQL goes down
AFTER = 50  # schedules due after it is back: beat must claim them
OUTAGE_S = 5
FAST = {"PUNCTUAL_REPUBLISH_AFTER": "3", "PUNCTUAL_RETRY_SWEEP_INTERVAL": "1",
        "PUNCTUAL_WORKER_DEAD_AFTER": "10", "PUNCTUAL_WORKER_HEARTBEAT_INTERVAL": "1"}


@pytest.fixture()
def cluster() -> Iterator[PostgresCluster]:
    bin_dir = postgres_bin_dir()
    if bin_dir is None:
        pytest.skip("no PostgreSQL server binaries under /usr/lib/postgresql/*/bin to start a private cluster")
    server = PostgresCluster(bin_dir)
    try:
        server.start()
        yield server
    finally:
        server.remove()


@dataclass
class Answer:
    status: int
    body: object
    retry_after: str | None


class Load(threading.Thread):
    """A client listing schedules as fast as it gets answers, recording every answer."""

    def __init__(self, base: str, tenant: Tenant) -> None:
        super().__init__(daemon=True)
        self.base, self.tenant = base, tenant
        self.answers: list[Answer] = []
        self.failures: list[str] = []
        self.stopped = threading.Event()

    def run(self) -> None:
        session = requests.Session()
        while not self.stopped.is_set():
            try:
                response = session.get(f"{self.base}/v1/schedules", headers=self.tenant.headers, timeout=15)
            except requests.RequestException as exc:  # the API must answer, not drop the connection
                self.failures.append(repr(exc))
                continue
            try:
                body: object = response.json()
            except ValueError:
                body = response.text
            self.answers.append(Answer(response.status_code, body, response.headers.get("Retry-After")))
            time.sleep(0.05)


def _slow(request: ReceivedRequest, index: int) -> tuple[int, dict[str, str], bytes]:
    time.sleep(0.03)
    return 200, {"Content-Type": "application/json"}, b"{}"


def test_postgres_restart_under_load_is_survived_by_api_beat_and_workers(
        cluster: PostgresCluster, settings: Settings, http_sink: HttpSink, log_dir: Path,
        processes: list[Process]) -> None:
    http_sink.responder = _slow
    with private_database(cluster.url) as url:
        local = replace(settings, database_url=url)
        pool: ConnectionPool = create_pool(local, min_size=1, max_size=2, name="chaos-test")
        try:
            _run_outage(cluster, local, pool, http_sink, log_dir, processes)
        finally:
            for proc in processes:
                proc.stop()
            processes.clear()
            pool.close()


def _run_outage(cluster: PostgresCluster, settings: Settings, pool: ConnectionPool, http_sink: HttpSink, log_dir: Path,
                processes: list[Process]) -> None:
    tenant = make_tenant(pool)
    api, base = start_api(settings, log_dir, PUNCTUAL_API_DB_TIMEOUT="2", PUNCTUAL_RATE_LIMIT="100000 per minute")
    processes.append(api)
    workers = [start_worker(settings, log_dir, queues="runs", **FAST),
               start_worker(settings, log_dir, queues="deliver.webhook", pool="threads", concurrency=4, **FAST)]
    processes.extend(workers)
    beat = start_beat(settings, log_dir)
    processes.append(beat)
    for worker in workers:
        wait_for(lambda w=worker: "ready" in w.output() or not w.alive(), timeout=60)  # type: ignore[misc]
    org = make_org(pool)
    destination = json.dumps({"url": f"{http_sink.url}/load"})
    insert_schedules(pool, org, BEFORE, destination=f"'{destination}'::jsonb")
    load = Load(base, tenant)
    load.start()

    wait_for(lambda: len(http_sink.requests) >= 30, timeout=60, interval=0.02)
    in_flight, during = _outage(cluster, pool, load)

    # Back: the API answers again within seconds (its pool reconnects in the background), with no restart.
    back = time.monotonic()
    wait_for(lambda: load.answers and load.answers[-1].status == 200, timeout=30, interval=0.1)
    api_recovered_s = time.monotonic() - back
    # New schedules fire (beat claims them), a schedule made through the API is triggered and delivered.
    insert_schedules(pool, org, AFTER, destination=f"'{destination}'::jsonb")
    made = requests.post(f"{base}/v1/schedules", headers=tenant.headers, timeout=10, json={
        "name": "After the restart", "cron_expression": "0 9 * * MON", "timezone": "UTC",
        "destination": {"type": "webhook", "url": f"{http_sink.url}/after"}, "run_mode": "once_distribute"})
    assert made.status_code == 201, made.text
    triggered = requests.post(f"{base}/v1/schedules/{made.json()['id']}/trigger", headers=tenant.headers, timeout=10)
    assert triggered.status_code == 200, triggered.text
    try:
        wait_for(lambda: scalar(pool, "SELECT count(*) FROM runs WHERE status = 'complete'") == BEFORE + AFTER + 1,
                 timeout=60, interval=0.5)
    except AssertionError:
        states = scalar(pool, "SELECT json_agg(s) FROM (SELECT status, claimed_by, "
                              "expanded_at IS NOT NULL AS expanded, planned_at IS NOT NULL AS planned, count(*) n "
                              "FROM runs WHERE status <> 'complete' GROUP BY 1, 2, 3, 4) s")
        open_deliveries = scalar(pool, "SELECT json_agg(d) FROM (SELECT d.status, d.claimed_by, count(*) n "
                                       "FROM deliveries d JOIN runs r ON r.id = d.run_id WHERE r.status <> 'complete' "
                                       "GROUP BY 1, 2) d")
        beats = scalar(pool, "SELECT json_agg(h) FROM (SELECT worker_id, now() - last_seen_at AS silent "
                             "FROM worker_heartbeats) h")
        logs = "\n".join(p.output()[-3000:] for p in processes)
        raise AssertionError(f"runs not finished: {states}\ndeliveries {open_deliveries}\nheartbeats {beats}\n{logs}"
                             ) from None
    time.sleep(1)
    load.stopped.set()
    load.join(timeout=20)

    assert in_flight > 0, "PostgreSQL went down after the burst had finished: the test proved nothing"
    assert scalar(pool, "SELECT count(*) FROM deliveries WHERE status = 'delivered'") == BEFORE + AFTER + 1
    assert any(r.path == "/after" for r in http_sink.requests)
    # While PostgreSQL was down the API answered, with 503 and the standard body, never 500.
    assert not load.failures, load.failures[:5]
    statuses = {a.status for a in load.answers}
    assert statuses <= {200, 503}, [a for a in load.answers if a.status not in (200, 503)][:5]
    unavailable = [a for a in load.answers if a.status == 503]
    assert during and all(a.status == 503 for a in during), during[:5]
    for answer in unavailable:
        assert answer.body == {"detail": "Database unavailable; retry shortly", "status": 503}
        assert answer.retry_after is not None and int(answer.retry_after) > 0
    assert load.answers[-1].status == 200  # and again 200 once it is back
    # The same processes throughout: none died and none was restarted.
    assert [p.name for p in processes if not p.alive()] == []
    assert "unhandled error" not in api.output()
    print(f"postgres restart: {in_flight} runs unfinished at the crash, {len(unavailable)} answers 503 during "
          f"{OUTAGE_S}s down, API answering 200 {api_recovered_s:.1f}s after the start")


def _outage(cluster: PostgresCluster, pool: ConnectionPool, load: Load) -> tuple[int, list[Answer]]:
    """Crash PostgreSQL mid-burst, keep it down OUTAGE_S, start it again; return the runs unfinished at the
    crash and the answers the API gave while it was down."""
    in_flight = int(scalar(pool, "SELECT count(*) FROM runs WHERE status <> 'complete'"))
    cluster.crash()
    first = len(load.answers)
    time.sleep(OUTAGE_S)
    during = load.answers[first + 1:]  # the first answer may have been on its way before the crash
    cluster.start()
    return in_flight, during
