"""Soak: beats crash (SIGKILL) and restart while slots come due; every slot fires exactly once, with no gap,
and each run is delivered exactly once.

`make soak` runs the long version (PUNCTUAL_SOAK_MINUTES, 10 by default, a kill every 75 s);
tests/chaos/test_beat_kill.py runs the same machinery, bounded, in `make test`.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from psycopg_pool import ConnectionPool

from shared.cron import next_fire_time, next_fire_times
from shared.db import transaction
from shared.settings import Settings
from shared.sql.schedules import insert_schedule
from tests.conftest import Tenant
from tests.processes import Process, start_beat, start_worker, wait_for
from tests.servers import HttpSink

ZONES = ["UTC", "America/New_York", "Europe/London", "Australia/Lord_Howe", "America/Santiago",
         "Asia/Kathmandu", "Pacific/Chatham"]
EXPRESSIONS = ["* * * * *", "*/2 * * * *", "* * * * ? *", "*/3 * * * *"]


@dataclass(frozen=True)
class SoakResult:
    schedules: int
    crashes: int
    runs: int
    delivered: int
    requests: int


def insert_soak_schedules(pool: ConnectionPool, tenant: Tenant, http_sink: HttpSink, count: int,
                          rng: random.Random, expressions: Sequence[str], now: datetime,
                          first: datetime | None = None) -> dict[str, datetime]:
    """Insert `count` webhook schedules; return each one's first slot (its next one after `now`, or `first`)."""
    first_slots: dict[str, datetime] = {}
    with transaction(pool) as conn:
        for i in range(count):
            expression, zone = rng.choice(expressions), rng.choice(ZONES)
            slot = first or next_fire_time(expression, zone, now)
            assert slot is not None
            schedule = insert_schedule(conn, tenant.organization_id, {  # type: ignore[arg-type]
                "name": f"soak {i}", "cron_expression": expression, "timezone": zone, "next_run_at": slot,
                "run_mode": "once_distribute", "destination_type": "webhook",
                "destination": {"url": f"{http_sink.url}/soak"},
            })
            first_slots[str(schedule.id)] = slot
    return first_slots


def crash_beats(settings: Settings, log_dir: Path, kill_at: Sequence[float], until: float,
                rng: random.Random, beats: int = 3) -> int:
    """Run `beats` beats until the monotonic time `until`, SIGKILLing a random one (and starting a new one)
    at each monotonic time in `kill_at`; return how many were killed."""
    running: list[Process] = [start_beat(settings, log_dir) for _ in range(beats)]
    crashes = 0
    try:
        for moment in sorted(kill_at):
            time.sleep(max(0.0, moment - time.monotonic()))
            victim = rng.randrange(len(running))
            running[victim].kill()  # SIGKILL mid-whatever: no goodbye, locks released by PostgreSQL
            crashes += 1
            running[victim] = start_beat(settings, log_dir)
        time.sleep(max(0.0, until - time.monotonic()))
        assert all(b.alive() for b in running), [b.output()[-2000:] for b in running if not b.alive()]
    finally:
        for beat in running:
            beat.stop()
    return crashes


def assert_every_slot_fired_once(pool: ConnectionPool, first_slots: dict[str, datetime]) -> None:
    """Each schedule has exactly one run per slot from its first up to (not including) its next_run_at."""
    with pool.connection() as conn:
        definitions = {r[0]: (r[1], r[2], r[3]) for r in conn.execute(
            "SELECT id::text, cron_expression, timezone, next_run_at FROM schedules")}
        fired: dict[str, list[datetime]] = {}
        for schedule_id, slot in conn.execute("SELECT schedule_id::text, scheduled_for FROM runs ORDER BY 2"):
            fired.setdefault(schedule_id, []).append(slot)
    for schedule_id, first in first_slots.items():
        expression, zone, next_run_at = definitions[schedule_id]
        # Every slot beat advanced past, from the first one up to (not including) next_run_at.
        expected = [first, *(t for t in next_fire_times(expression, zone, first, 200) if t < next_run_at)]
        assert fired.get(schedule_id, []) == expected, (schedule_id, expected, fired.get(schedule_id))


def assert_delivered_once(pool: ConnectionPool, http_sink: HttpSink, workers: Sequence[Process],
                          timeout: float) -> SoakResult:
    """Wait until every run is complete; each run has one delivered delivery and one webhook request."""
    def settled() -> bool:
        with pool.connection() as c:
            row = c.execute("SELECT count(*) FILTER (WHERE status NOT IN ('complete')), count(*) FROM runs").fetchone()
        assert row is not None
        return row[0] == 0

    try:
        wait_for(settled, timeout=timeout, interval=1)
    except AssertionError:
        with pool.connection() as c:
            runs = c.execute("SELECT status, claimed_by IS NOT NULL, publish_count, count(*) FROM runs "
                             "WHERE status <> 'complete' GROUP BY 1, 2, 3").fetchall()
            deliveries = c.execute("SELECT status, count(*) FROM deliveries GROUP BY 1").fetchall()
        raise AssertionError(f"runs not complete (status, claimed, publish_count, n): {runs}; deliveries {deliveries}\n"
                             + "\n".join(w.output()[-3000:] for w in workers)) from None
    with pool.connection() as c:
        total_runs = c.execute("SELECT count(*) FROM runs").fetchone()[0]  # type: ignore[index]
        delivered = c.execute("SELECT count(*) FROM deliveries WHERE status = 'delivered'").fetchone()[0]  # type: ignore[index]
    keys = [r.headers.get("Idempotency-Key") for r in http_sink.requests]
    assert delivered == total_runs
    assert len(keys) == len(set(keys)) == total_runs
    return SoakResult(0, 0, total_runs, delivered, len(keys))


def start_soak_workers(settings: Settings, log_dir: Path, count: int = 2) -> list[Process]:
    return [start_worker(settings, log_dir, concurrency=4, pool="threads") for _ in range(count)]


@pytest.mark.soak
def test_slots_fire_exactly_once_while_beats_crash(settings: Settings, pool: ConnectionPool, tenant: Tenant,
                                                    http_sink: HttpSink, log_dir: Path) -> None:
    minutes = float(os.environ.get("PUNCTUAL_SOAK_MINUTES", "10"))
    count = int(os.environ.get("PUNCTUAL_SOAK_SCHEDULES", "300"))
    rng = random.Random(int(os.environ.get("PUNCTUAL_SOAK_SEED", "7")))
    first_slots = insert_soak_schedules(pool, tenant, http_sink, count, rng, EXPRESSIONS, datetime.now(UTC))

    workers = start_soak_workers(settings, log_dir)
    try:
        start = time.monotonic()
        until = start + minutes * 60
        crashes = crash_beats(settings, log_dir, [t for t in (start + 75.0 * k for k in range(1, 1000)) if t < until],
                              until, rng)
        assert_every_slot_fired_once(pool, first_slots)
        result = assert_delivered_once(pool, http_sink, workers, timeout=300)
    finally:
        for worker in workers:
            worker.stop()
    print(f"soak: {minutes} min, {count} schedules, {crashes} beat crashes, {result.runs} runs, "
          f"{result.delivered} delivered, {result.requests} webhook requests")
