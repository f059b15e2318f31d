"""Three beats over 2,000 every-minute schedules, one of them SIGKILLed at a random moment around a minute
boundary (while the 2,000 slots are being claimed and published): no slot fires twice, none is missed, and
each run is delivered once. The bounded form of the soak (tests/e2e/test_soak.py, `make soak`)."""

from __future__ import annotations

import os
import random
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from psycopg_pool import ConnectionPool

from shared.settings import Settings
from tests.conftest import Tenant
from tests.e2e.test_soak import (
    assert_delivered_once,
    assert_every_slot_fired_once,
    crash_beats,
    insert_soak_schedules,
    start_soak_workers,
)
from tests.processes import start_beat
from tests.servers import HttpSink

SCHEDULES = 2000
MINUTE = timedelta(minutes=1)


def test_beat_killed_at_a_minute_boundary_fires_every_slot_exactly_once(
        settings: Settings, pool: ConnectionPool, tenant: Tenant, http_sink: HttpSink, log_dir: Path) -> None:
    seed = int(os.environ.get("PUNCTUAL_SOAK_SEED") or time.time_ns() % 1_000_000)
    rng = random.Random(seed)
    now = datetime.now(UTC)
    boundary = now.replace(second=0, microsecond=0)
    # The first slot is the minute that just began (due at once: a burst of 2,000 at the start) unless it
    # began so long ago that it would be past the misfire grace by the time beats start; then the next one.
    first = boundary if now - boundary < timedelta(seconds=40) else boundary + MINUTE
    second = first + MINUTE  # the slot the kill is aimed at: beats are busy claiming it
    first_slots = insert_soak_schedules(pool, tenant, http_sink, SCHEDULES, rng, ["* * * * *"], now, first=first)

    workers = start_soak_workers(settings, log_dir)
    try:
        to_monotonic = time.monotonic() - datetime.now(UTC).timestamp()
        kill = second.timestamp() + to_monotonic + rng.uniform(-1.0, 4.0)
        until = second.timestamp() + to_monotonic + 8.0  # claimed and published by then
        crashes = crash_beats(settings, log_dir, [kill], until, rng)
        assert_every_slot_fired_once(pool, first_slots)
        # Beats run all the time in production: one stays while deliveries settle (its relay publishes what
        # the killed one had marked but not committed), with the schedules off so that no third slot fires.
        with pool.connection() as conn:
            conn.execute("UPDATE schedules SET enabled = false")
        relay = start_beat(settings, log_dir)
        try:
            # Settling 4,000 deliveries takes ~15 s on an idle 2-core machine; the bound leaves room for a busy one.
            result = assert_delivered_once(pool, http_sink, workers, timeout=150)
        finally:
            relay.stop()
    finally:
        for worker in workers:
            worker.stop()
    assert crashes == 1
    assert result.runs == 2 * SCHEDULES, (seed, result)  # both slots of every schedule, once each
