"""The broker down, restarted or flushed: runs wait in PostgreSQL and every one reaches the broker."""

from __future__ import annotations

import time

import pytest
from psycopg_pool import ConnectionPool

from shared.settings import Settings
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

pytestmark = pytest.mark.broker
RUN_IDS = "SELECT array_agg(id::text) FROM runs"


def test_runs_wait_while_the_broker_is_down_and_are_published_after_restart(
        pool: ConnectionPool, beats: Beats, settings: Settings, broker_server: SessionBroker) -> None:
    beat = beats.start(PUNCTUAL_BEAT_BATCH_SIZE="100")
    wait_until_beats_ready(pool, 1)
    org = make_org(pool)
    insert_schedules(pool, org, 300, next_run_at="now()")
    broker_server.stop()
    notify(pool)

    # Firing goes on without the broker: the runs are recorded, pending, and beat keeps ticking.
    wait_for(lambda: scalar(pool, "SELECT count(*) FROM runs WHERE status = 'pending'") == 300)
    tick_before = scalar(pool, "SELECT max(last_tick_at) FROM beat_heartbeats")
    wait_for(lambda: scalar(pool, "SELECT max(last_tick_at) FROM beat_heartbeats") > tick_before, timeout=10)
    assert scalar(pool, "SELECT oldest_pending_run_at IS NOT NULL FROM beat_heartbeats")
    assert beat.alive()
    assert "broker unavailable" in beat.output()

    broker_server.start()
    wait_for(lambda: scalar(pool, "SELECT count(*) FROM runs WHERE status = 'published'") == 300, timeout=20)
    assert set(broker_run_ids(broker_server)) == set(scalar(pool, RUN_IDS))
    wait_for(lambda: scalar(pool, "SELECT oldest_pending_run_at IS NULL FROM beat_heartbeats"), timeout=10)


def test_broker_stopped_mid_burst_loses_nothing(
        pool: ConnectionPool, beats: Beats, settings: Settings, broker_server: SessionBroker) -> None:
    org = make_org(pool)
    insert_schedules(pool, org, 4000, next_run_at="now()")
    beat = beats.start(PUNCTUAL_BEAT_BATCH_SIZE="50", PUNCTUAL_BEAT_PUBLISH_BATCH="5")
    wait_for(lambda: scalar(pool, "SELECT count(*) FROM runs WHERE status = 'published'") > 0, interval=0.02)
    broker_server.stop()
    stopped_at = time.monotonic()
    time.sleep(1.5)
    assert beat.alive()
    assert scalar(pool, "SELECT count(*) FROM runs WHERE status = 'pending'") > 0, "burst finished before the stop"
    broker_server.start()  # Redis without persistence comes back empty
    restarted_at = scalar(pool, "SELECT now()")
    wait_for(lambda: scalar(pool, "SELECT count(*) FROM runs WHERE status = 'published'") == 4000, timeout=40)
    assert time.monotonic() - stopped_at < 40
    # Everything that was pending at the restart was published afterwards, and is in the new Redis.
    after = scalar(pool, "SELECT array_agg(id::text) FROM runs WHERE published_at >= %s", (restarted_at,))
    assert after and set(after) <= set(broker_run_ids(broker_server))
    assert scalar(pool, "SELECT count(*) FROM runs") == 4000


def test_runs_lost_by_a_flushed_broker_are_published_again(
        pool: ConnectionPool, beats: Beats, settings: Settings, broker_server: SessionBroker) -> None:
    beats.start(PUNCTUAL_BEAT_REPUBLISH_AFTER="2")
    wait_until_beats_ready(pool, 1)
    org = make_org(pool)
    insert_schedules(pool, org, 50, next_run_at="now()")
    notify(pool)
    wait_for(lambda: scalar(pool, "SELECT count(*) FROM runs WHERE status = 'published'") == 50)
    broker_server.flush()  # the messages are gone; no worker ever started these runs
    assert broker_run_ids(broker_server) == {}

    wait_for(lambda: scalar(pool, "SELECT min(publish_count) FROM runs") >= 2, timeout=15)
    assert set(broker_run_ids(broker_server)) == set(scalar(pool, RUN_IDS))
