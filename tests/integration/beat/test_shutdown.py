"""SIGTERM to beat: the tick in progress finishes, the relay's batch in flight is committed, then beat exits."""

from __future__ import annotations

import os
import signal
import time

import pytest
from psycopg_pool import ConnectionPool

from tests.brokers import SessionBroker
from tests.integration.beat.conftest import (
    Beats,
    broker_run_ids,
    insert_schedules,
    make_org,
    scalar,
    wait_until_beats_ready,
)
from tests.processes import Process, wait_for

pytestmark = pytest.mark.broker


def _terminate(proc: Process, timeout: float = 15) -> tuple[int, float]:
    """Send SIGTERM as a supervisor would; return the exit code and seconds it took to exit."""
    started = time.monotonic()
    os.killpg(proc.proc.pid, signal.SIGTERM)
    code = proc.proc.wait(timeout=timeout)
    return code, time.monotonic() - started


def test_sigterm_mid_burst_then_another_beat_fires_every_slot_once(
        pool: ConnectionPool, beats: Beats, broker_server: SessionBroker) -> None:
    org = make_org(pool)
    schedules = 3000
    insert_schedules(pool, org, schedules, next_run_at="now()")
    # Small batches: the burst takes many ticks and relay passes, so the signal lands inside one.
    first = beats.start(PUNCTUAL_BEAT_BATCH_SIZE="50", PUNCTUAL_BEAT_PUBLISH_BATCH="10")
    wait_for(lambda: scalar(pool, "SELECT count(*) FROM runs WHERE status = 'published'") >= 200, interval=0.01)

    code, took = _terminate(first)
    assert code == 0, first.output()[-3000:]
    assert took < 10
    log = first.output()
    assert "stop requested" in log and "beat: stopped" in log
    assert "Traceback" not in log
    runs_at_stop = scalar(pool, "SELECT count(*) FROM runs")
    assert runs_at_stop < schedules, "the burst finished before the signal; nothing was interrupted"
    # What the stopped beat claimed is committed: every claimed schedule has its run and moved on.
    assert scalar(pool, "SELECT count(*) FROM schedules WHERE last_run_at IS NOT NULL") == runs_at_stop

    beats.start(PUNCTUAL_BEAT_BATCH_SIZE="500")
    wait_for(lambda: scalar(pool, "SELECT count(*) FROM runs WHERE status = 'published'") == schedules,
             timeout=60)
    assert scalar(pool, "SELECT count(*) FROM runs") == schedules
    assert scalar(pool, "SELECT count(DISTINCT schedule_id) FROM runs") == schedules
    assert scalar(pool, "SELECT count(*) FROM schedules WHERE next_run_at <= now()") == 0
    # Each run reached the broker exactly once: the stopped beat's last batch was committed as
    # published, not rolled back and sent again by the next beat.
    in_broker = broker_run_ids(broker_server)
    assert set(in_broker) == set(scalar(pool, "SELECT array_agg(id::text) FROM runs"))
    assert max(in_broker.values()) == 1
    assert scalar(pool, "SELECT max(publish_count) FROM runs") == 1


def test_sigterm_ends_a_sleeping_beat_at_once(pool: ConnectionPool, beats: Beats) -> None:
    beat = beats.start(PUNCTUAL_BEAT_MAX_SLEEP="30")
    wait_until_beats_ready(pool, 1)
    time.sleep(0.5)  # it has written its heartbeat and is asleep for up to 30 s

    code, took = _terminate(beat)
    assert code == 0, beat.output()[-3000:]
    assert took < 5, f"beat took {took:.1f}s to stop while asleep"
    assert "beat: stopped" in beat.output()
