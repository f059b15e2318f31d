"""Several real beats over the same schedules fire every slot exactly once, even when one dies."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from uuid import UUID

from psycopg_pool import ConnectionPool

from shared.db import transaction
from tests.brokers import SessionBroker
from tests.integration.beat.conftest import (
    Beats,
    broker_run_ids,
    insert_schedules,
    make_org,
    notify,
    scalar,
    wait_until_beats_ready,
)
from tests.processes import wait_for

MINUTE = timedelta(minutes=1)
# Small batches make the beats take many interleaved turns at the same rows.
BUSY_BEATS = {"PUNCTUAL_BEAT_BATCH_SIZE": "25", "PUNCTUAL_BEAT_PUBLISH_BATCH": "7"}


def _insert_behind(pool: ConnectionPool, count: int, spread_minutes: int) -> dict[UUID, datetime]:
    """Minutely run_all schedules whose next slot is 0..spread-1 minutes behind: each owes that many runs."""
    org = make_org(pool)
    ids = insert_schedules(
        pool, org, count, cron="* * * * *", misfire="run_all",
        next_run_at=f"date_trunc('minute', now()) - (g %% {spread_minutes}) * interval '1 minute'")
    with transaction(pool) as conn:
        rows = conn.execute("SELECT id, next_run_at FROM schedules WHERE id = ANY(%s)", (ids,)).fetchall()
    return {r[0]: r[1] for r in rows}


def _settled(pool: ConnectionPool) -> bool:
    return bool(scalar(pool, """SELECT NOT EXISTS (SELECT 1 FROM schedules WHERE next_run_at <= now() - interval '2 s')
                                   AND NOT EXISTS (SELECT 1 FROM runs WHERE status = 'pending')"""))


def _assert_every_slot_once(pool: ConnectionPool, first_slots: dict[UUID, datetime]) -> dict[UUID, int]:
    """Each schedule has exactly one run per minute from its first slot to the one before next_run_at."""
    with transaction(pool) as conn:
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        nexts = dict(conn.execute("SELECT id, next_run_at FROM schedules").fetchall())
        runs = conn.execute("SELECT id, schedule_id, scheduled_for, status, publish_count FROM runs").fetchall()
    got: dict[UUID, list[datetime]] = defaultdict(list)
    for _, schedule_id, slot, status, publish_count in runs:
        got[schedule_id].append(slot)
        assert status == "published" and publish_count >= 1
    missing = duplicated = 0
    for schedule_id, first in first_slots.items():
        expected, slot = [], first
        while slot < nexts[schedule_id]:
            expected.append(slot)
            slot += MINUTE
        assert expected, "every schedule owed at least its current slot"
        actual = sorted(got[schedule_id])
        missing += len(set(expected) - set(actual))
        duplicated += len(actual) - len(set(actual)) + len(set(actual) - set(expected))
    assert (missing, duplicated) == (0, 0)
    return {r[0]: r[4] for r in runs}


def test_two_beats_fire_each_slot_once_and_publish_each_run_once(
        pool: ConnectionPool, beats: Beats, broker_server: SessionBroker) -> None:
    beats.start(**BUSY_BEATS)
    beats.start(**BUSY_BEATS)
    wait_until_beats_ready(pool, 2)
    first_slots = _insert_behind(pool, 400, 15)
    notify(pool)

    wait_for(lambda: _settled(pool), timeout=60)
    publish_counts = _assert_every_slot_once(pool, first_slots)
    in_broker = broker_run_ids(broker_server)
    assert {str(r) for r in publish_counts} <= set(in_broker)
    assert max(in_broker.values()) == 1, "a run was published twice"
    assert set(publish_counts.values()) == {1}
    # Both beats did part of the work: they really ran side by side.
    assert scalar(pool, "SELECT count(*) FROM beat_heartbeats WHERE runs_published > 0") == 2


def test_three_beats_carry_on_when_one_is_killed(pool: ConnectionPool, beats: Beats,
                                                 broker_server: SessionBroker) -> None:
    procs = [beats.start(**BUSY_BEATS) for _ in range(3)]
    wait_until_beats_ready(pool, 3)
    first_slots = _insert_behind(pool, 1500, 30)
    expected_runs = sum(1 + (max(first_slots.values()) - s) // MINUTE for s in first_slots.values())
    notify(pool)

    wait_for(lambda: scalar(pool, "SELECT count(*) FROM runs") >= expected_runs // 5, timeout=30, interval=0.02)
    procs[0].kill()  # SIGKILL mid-way: its open transaction rolls back, its locks go with its connection
    assert scalar(pool, "SELECT count(*) FROM runs") < expected_runs, "too late to kill mid-way"

    wait_for(lambda: _settled(pool), timeout=60)
    _assert_every_slot_once(pool, first_slots)
    assert procs[1].alive() and procs[2].alive()
    # Every run reached the broker (a message sent just before the kill may be sent again:
    # workers claim a run once, so that repeat is harmless).
    ids = set(broker_run_ids(broker_server))
    assert scalar(pool, "SELECT count(*) FROM runs WHERE NOT (id::text = ANY(%s))", (list(ids),)) == 0


def test_two_beats_share_a_burst_and_fire_each_slot_once(pool: ConnectionPool, beats: Beats,
                                                          broker_server: SessionBroker) -> None:
    # Production batch sizes; 5,000 schedules due at the same instant, as at the top of a busy hour.
    burst = 5000
    beats.start()
    beats.start()
    wait_until_beats_ready(pool, 2)
    ids = insert_schedules(pool, make_org(pool), burst, next_run_at="now() - interval '1 second'")
    notify(pool)

    wait_for(lambda: scalar(pool, "SELECT count(*) FROM runs WHERE status = 'published'") >= burst
             and _settled(pool), timeout=60)
    with transaction(pool) as conn:
        runs = conn.execute("SELECT schedule_id, status, publish_count FROM runs").fetchall()
    assert sorted(r[0] for r in runs) == sorted(ids), "a slot fired twice or not at all"
    assert {(r[1], r[2]) for r in runs} == {("published", 1)}
    in_broker = broker_run_ids(broker_server)
    assert len(in_broker) == burst and max(in_broker.values()) == 1, "a run was published twice or not at all"
    # Each beat published part of the burst, and together all of it (a relay counts a pass when it ends).
    wait_for(lambda: scalar(pool, "SELECT sum(runs_published) FROM beat_heartbeats") >= burst, timeout=10)
    with transaction(pool) as conn:
        published = [r[0] for r in conn.execute("SELECT runs_published FROM beat_heartbeats").fetchall()]
    assert len(published) == 2 and min(published) > 0 and sum(published) == burst, published
