"""What fires and when: NOTIFY wake-up, one-shots, paused/disabled/deleted schedules, edits, bad rows."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from psycopg_pool import ConnectionPool

from shared.db import transaction
from shared.settings import Settings
from tests.integration.beat.conftest import Beats, insert_schedules, make_org, notify, scalar, wait_until_beats_ready
from tests.processes import wait_for


def _wait_for_next_heartbeat(pool: ConnectionPool) -> None:
    # Beat writes its heartbeat right before it goes to sleep: after it, beat sleeps its full
    # interval unless something wakes it.
    seen = scalar(pool, "SELECT max(last_tick_at) FROM beat_heartbeats")
    wait_for(lambda: scalar(pool, "SELECT max(last_tick_at) FROM beat_heartbeats") > seen, timeout=15, interval=0.01)


@pytest.mark.broker
def test_notify_wakes_a_sleeping_beat_at_once(pool: ConnectionPool, beats: Beats) -> None:
    beat = beats.start(PUNCTUAL_BEAT_MAX_SLEEP="5")
    wait_until_beats_ready(pool, 1)
    org = make_org(pool)
    # Its first heartbeat is written just before its first sleep (5 s, nothing is due).
    assert scalar(pool, "SELECT now() - max(last_tick_at) < interval '1.5 s' FROM beat_heartbeats")
    [schedule_id] = insert_schedules(pool, org, 1, cron="0 9 1 1 *", next_run_at="now()")
    notify(pool)

    wait_for(lambda: scalar(pool, "SELECT count(*) FROM runs WHERE status = 'published'") == 1, timeout=10,
             interval=0.02)
    delay = scalar(pool, "SELECT extract(epoch FROM r.published_at - s.created_at) FROM runs r "
                         "JOIN schedules s ON s.id = r.schedule_id")
    assert delay < 1.0, f"published {delay:.2f}s after the schedule was created (max sleep is 5 s)"
    assert "beat tick: claimed=1 runs=1 " in beat.output()
    wait_for(lambda: scalar(pool, "SELECT sum(runs_published) FROM beat_heartbeats") == 1, timeout=3)
    assert scalar(pool, "SELECT next_run_at > now() + interval '1 day' FROM schedules WHERE id = %s",
                  (schedule_id,))


def test_one_shot_fires_once_within_a_second_of_its_slot(pool: ConnectionPool, beats: Beats) -> None:
    beats.start(PUNCTUAL_BEAT_MAX_SLEEP="5")
    wait_until_beats_ready(pool, 1)
    org = make_org(pool)
    with transaction(pool) as conn:
        row = conn.execute(
            """INSERT INTO schedules (organization_id, name, kind, execute_at, next_run_at, destination_type)
               VALUES (%s, 'once', 'one_shot', now() + interval '2 s', now() + interval '2 s', 'webhook')
               RETURNING id, execute_at""", (org,)).fetchone()
        conn.execute("SELECT pg_notify('punctual_wakeup', '')")
    assert row is not None
    schedule_id, slot = row

    wait_for(lambda: scalar(pool, "SELECT count(*) FROM runs WHERE status = 'published'"), timeout=10, interval=0.02)
    assert scalar(pool, "SELECT done_at IS NOT NULL FROM schedules WHERE id = %s", (schedule_id,))
    with transaction(pool) as conn:
        runs = conn.execute("SELECT scheduled_for, trigger, published_at FROM runs").fetchall()
        schedule = conn.execute("SELECT next_run_at, last_run_at FROM schedules").fetchone()
    assert [(r[0], r[1]) for r in runs] == [(slot, "one_shot")]
    lag = (runs[0][2] - slot).total_seconds()
    assert 0 <= lag < 1.0
    assert schedule == (None, slot)


def test_paused_disabled_deleted_and_done_schedules_never_fire(pool: ConnectionPool, beats: Beats) -> None:
    org = make_org(pool)
    past = "now() - interval '3 hours'"
    silent = [
        *insert_schedules(pool, org, 1, next_run_at=past, paused_at="now()"),
        *insert_schedules(pool, org, 1, next_run_at=past, enabled="false"),
        *insert_schedules(pool, org, 1, next_run_at=past, system_disabled_at="now()"),
        *insert_schedules(pool, org, 1, next_run_at=past, deleted_at="now()"),
        *insert_schedules(pool, org, 1, next_run_at="NULL", done_at="now()"),
    ]
    # Yearly, so the only run is the catch-up: an every-minute schedule could fire again on time.
    [live] = insert_schedules(pool, org, 1, cron="0 0 1 1 *", next_run_at=past)
    beats.start()
    wait_for(lambda: scalar(pool, "SELECT count(*) FROM runs WHERE status = 'published'") == 1)
    _wait_for_next_heartbeat(pool)
    _wait_for_next_heartbeat(pool)

    assert scalar(pool, "SELECT array_agg(schedule_id) FROM runs") == [live]
    assert scalar(pool, "SELECT count(*) FROM schedules WHERE id = ANY(%s) AND skipped_slots = 0 "
                        "AND last_run_at IS NULL", (silent,)) == 5


def test_an_edit_takes_effect_from_the_next_slot(pool: ConnectionPool, beats: Beats) -> None:
    org = make_org(pool)
    [schedule_id] = insert_schedules(pool, org, 1, cron="* * * * *", next_run_at="now() + interval '1 s'")
    # Edited before its slot: the slot already planned still fires, then the new expression rules.
    with transaction(pool) as conn:
        conn.execute("UPDATE schedules SET cron_expression = '0 9 1 1 *', timezone = 'Asia/Tokyo' WHERE id = %s",
                     (schedule_id,))
    beats.start()
    wait_for(lambda: scalar(pool, "SELECT count(*) FROM runs") == 1, timeout=15)
    next_run_at: datetime = wait_for(lambda: scalar(
        pool, "SELECT next_run_at FROM schedules WHERE id = %s AND last_run_at IS NOT NULL", (schedule_id,)))
    assert (next_run_at.month, next_run_at.day, next_run_at.hour, next_run_at.minute) == (1, 1, 0, 0)  # 09:00 JST


def test_a_schedule_that_cannot_be_planned_is_disabled_and_the_rest_fire(
        pool: ConnectionPool, beats: Beats, settings: Settings) -> None:
    org = make_org(pool)
    [bad] = insert_schedules(pool, org, 1, cron="61 * * * *", next_run_at="now()")
    good = insert_schedules(pool, org, 20, next_run_at="now()")
    beat = beats.start()
    wait_for(lambda: scalar(pool, "SELECT count(*) FROM runs WHERE status = 'published'") == 20)
    wait_for(lambda: scalar(pool, "SELECT system_disabled_at IS NOT NULL FROM schedules WHERE id = %s", (bad,)))
    assert "cron_expression" in scalar(pool, "SELECT system_disabled_reason FROM schedules WHERE id = %s", (bad,))
    assert set(scalar(pool, "SELECT array_agg(schedule_id) FROM runs")) == set(good)
    assert beat.alive()
    assert (datetime.now().astimezone() - scalar(pool, "SELECT max(last_tick_at) FROM beat_heartbeats")
            < timedelta(seconds=10))
