"""After a downtime, each misfire policy gives the runs it promises and counts what it skipped."""

from __future__ import annotations

from datetime import datetime, timedelta
from uuid import UUID

from psycopg_pool import ConnectionPool

from shared.db import transaction
from tests.integration.beat.conftest import Beats, insert_schedules, make_org, scalar
from tests.processes import wait_for

HOUR, MINUTE = timedelta(hours=1), timedelta(minutes=1)


def _one(pool: ConnectionPool, org: UUID, cron: str, misfire: str, first: datetime) -> UUID:
    return insert_schedules(pool, org, 1, cron=cron, misfire=misfire, next_run_at=f"'{first.isoformat()}'")[0]


def _runs(pool: ConnectionPool, schedule_id: UUID) -> list[tuple[datetime, str]]:
    with transaction(pool) as conn:
        rows = conn.execute("SELECT scheduled_for, trigger FROM runs WHERE schedule_id = %s ORDER BY scheduled_for",
                            (schedule_id,)).fetchall()
    return [(r[0], r[1]) for r in rows]


def _state(pool: ConnectionPool, schedule_id: UUID) -> tuple[datetime, int]:
    with transaction(pool) as conn:
        row = conn.execute("SELECT next_run_at, skipped_slots FROM schedules WHERE id = %s", (schedule_id,)).fetchone()
    assert row is not None
    return row[0], row[1]


def _slots_before(first: datetime, until: datetime, step: timedelta) -> int:
    return (until - first - timedelta(microseconds=1)) // step + 1


def test_each_misfire_policy_after_downtime(pool: ConnectionPool, beats: Beats) -> None:
    org = make_org(pool)
    now: datetime = scalar(pool, "SELECT now()")
    # Hourly at a minute half an hour away from now, so no slot is on time: all five are missed.
    minute = (now.minute + 30) % 60
    hourly = f"{minute} * * * *"
    first = (now - 5 * HOUR).replace(minute=minute, second=0, microsecond=0)
    if first < now - 5 * HOUR:
        first += HOUR
    missed = [first + k * HOUR for k in range(5)]
    assert missed[-1] < now - 20 * MINUTE < now < missed[-1] + HOUR
    run_once = _one(pool, org, hourly, "run_once", first)
    skip = _one(pool, org, hourly, "skip", first)
    run_all = _one(pool, org, hourly, "run_all", first)
    # Minutely schedules down far longer than the run_all cap (100) allows.
    behind = now.replace(second=0, microsecond=0)
    capped = _one(pool, org, "* * * * *", "run_all", behind - 200 * MINUTE)
    skip_long = _one(pool, org, "* * * * *", "skip", behind - 3000 * MINUTE)
    once_long = _one(pool, org, "* * * * *", "run_once", behind - 14400 * MINUTE)
    beats.start()

    everyone = [run_once, skip, run_all, capped, skip_long, once_long]
    wait_for(lambda: scalar(pool, "SELECT count(*) FROM schedules WHERE next_run_at > now()") == 6, timeout=30)

    assert _runs(pool, run_once) == [(missed[-1], "catch_up")]
    assert _state(pool, run_once)[1] == 4
    assert _runs(pool, skip) == []
    assert _state(pool, skip)[1] == 5
    assert _runs(pool, run_all) == [(slot, "catch_up") for slot in missed]
    assert _state(pool, run_all)[1] == 0
    for schedule_id in (run_once, skip, run_all):
        assert _state(pool, schedule_id)[0] == missed[-1] + HOUR

    # The cap keeps the oldest 100 slots; the rest are counted, not lost.
    capped_runs = _runs(pool, capped)
    catch_up = [slot for slot, trigger in capped_runs if trigger == "catch_up"]
    assert catch_up == [behind - 200 * MINUTE + k * MINUTE for k in range(100)]
    assert len(capped_runs) - len(catch_up) <= 2  # on-time slots of the last minute
    # Every slot before next_run_at was either run or counted as skipped, far beyond the cap too.
    for schedule_id, start in ((capped, behind - 200 * MINUTE), (skip_long, behind - 3000 * MINUTE),
                               (once_long, behind - 14400 * MINUTE)):
        next_run_at, skipped = _state(pool, schedule_id)
        assert skipped + len(_runs(pool, schedule_id)) == _slots_before(start, next_run_at, MINUTE)
    assert _state(pool, skip_long)[1] >= 2999
    assert len(_runs(pool, once_long)) == 1
    assert all(_state(pool, s)[0] > now for s in everyone)
