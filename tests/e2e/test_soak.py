"""Soak (`make soak`, not part of `make test`): beats crash and restart for minutes; every slot
fires exactly once, with no gap, and each run is delivered exactly once."""

from __future__ import annotations

import os
import random
import time
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

pytestmark = pytest.mark.soak

ZONES = ["UTC", "America/New_York", "Europe/London", "Australia/Lord_Howe", "America/Santiago",
         "Asia/Kathmandu", "Pacific/Chatham"]
EXPRESSIONS = ["* * * * *", "*/2 * * * *", "* * * * ? *", "*/3 * * * *"]


def test_slots_fire_exactly_once_while_beats_crash(settings: Settings, pool: ConnectionPool, tenant: Tenant,
                                                    http_sink: HttpSink, log_dir: Path) -> None:
    minutes = float(os.environ.get("PUNCTUAL_SOAK_MINUTES", "10"))
    count = int(os.environ.get("PUNCTUAL_SOAK_SCHEDULES", "300"))
    rng = random.Random(int(os.environ.get("PUNCTUAL_SOAK_SEED", "7")))
    now = datetime.now(UTC)
    first_slots: dict[str, datetime] = {}
    with transaction(pool) as conn:
        for i in range(count):
            expression, zone = rng.choice(EXPRESSIONS), rng.choice(ZONES)
            first = next_fire_time(expression, zone, now)
            assert first is not None
            schedule = insert_schedule(conn, tenant.organization_id, {  # type: ignore[arg-type]
                "name": f"soak {i}", "cron_expression": expression, "timezone": zone, "next_run_at": first,
                "run_mode": "once_distribute", "destination_type": "webhook",
                "destination": {"url": f"{http_sink.url}/soak"},
            })
            first_slots[str(schedule.id)] = first

    beats: list[Process] = [start_beat(settings, log_dir) for _ in range(3)]
    workers = [start_worker(settings, log_dir, concurrency=4, pool="threads") for _ in range(2)]
    deadline = time.monotonic() + minutes * 60
    crashes = 0
    try:
        while time.monotonic() < deadline:
            time.sleep(min(75.0, max(0.0, deadline - time.monotonic())))
            victim = rng.randrange(len(beats))
            beats[victim].kill()  # SIGKILL mid-whatever: no goodbye, locks released by PostgreSQL
            crashes += 1
            beats[victim] = start_beat(settings, log_dir)
    finally:
        for beat in beats:
            beat.stop()

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

    def settled() -> bool:
        with pool.connection() as c:
            row = c.execute("SELECT count(*) FILTER (WHERE status NOT IN ('complete')), count(*) FROM runs").fetchone()
        assert row is not None
        return row[0] == 0

    try:
        wait_for(settled, timeout=300, interval=1)
    finally:
        for worker in workers:
            worker.stop()
    with pool.connection() as c:
        total_runs = c.execute("SELECT count(*) FROM runs").fetchone()[0]  # type: ignore[index]
        delivered = c.execute("SELECT count(*) FROM deliveries WHERE status = 'delivered'").fetchone()[0]  # type: ignore[index]
    keys = [r.headers.get("Idempotency-Key") for r in http_sink.requests]
    print(f"soak: {minutes} min, {count} schedules, {crashes} beat crashes, {total_runs} runs, "
          f"{delivered} delivered, {len(keys)} webhook requests")
    assert delivered == total_runs
    assert len(keys) == len(set(keys)) == total_runs
