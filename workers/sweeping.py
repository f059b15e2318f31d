"""The sweep: every worker publishes again what PostgreSQL says is due, and finishes what was left open.

- when a worker died: every message in flight, since the dead one may have reserved some (prefetched,
  unacknowledged until the broker's visibility timeout, or lost if it died between taking and
  recording it) that no table can name;
- deliveries whose retry is due, whose message may be lost, or whose worker died mid-send;
- chunks whose message was lost or whose worker died;
- runs whose worker died before it planned or expanded them;
- runs whose deliveries all settled but whose finisher died between the two steps;
- and it forgets the deliveries tallies older than the quota window.

Retry timing lives in PostgreSQL (deliveries.next_attempt_at / publish_after), not in Celery
countdowns: a countdown message on Redis is held unacknowledged in one worker's memory until
due, comes back after the visibility timeout if that worker is slow, and vanishes if Redis is
flushed. A sweep every few seconds costs a few indexed queries and makes a retry due at T go out
at most one interval after T, from whichever worker is alive.
"""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime, timedelta
from uuid import UUID

import psycopg

from shared.db import connect
from shared.quotas import QUOTA_WINDOW
from shared.settings import Settings
from shared.sql import deliveries as delivery_sql
from shared.sql import heartbeats as heartbeat_sql
from shared.sql import run_chunks as chunk_sql
from shared.sql import runs as run_sql
from workers.finishing import finish_settled_runs
from workers.publishing import publish_chunks, publish_deliveries, publish_runs

logger = logging.getLogger("punctual.workers")
SWEEP_LIMIT = 1000
COUNTS_KEPT_PAST_WINDOW = timedelta(minutes=5)  # deliveries tallies outlive the quota window by this


def sweep_once(conn: psycopg.Connection, settings: Settings) -> int:
    """Claim and publish due deliveries, chunks and stalled runs, finish runs left open; return the count."""
    again, dead_after = settings.republish_after_s, settings.worker_dead_after_s
    with conn.transaction():
        dead = heartbeat_sql.reap_dead_workers(conn, dead_after)
        if dead:
            again_now = (delivery_sql.republish_in_flight(conn), chunk_sql.republish_in_flight(conn),
                         run_sql.republish_in_flight(conn))
            logger.warning("workers %s stopped beating: publishing again %s deliveries, %s chunks and %s runs "
                           "in flight, which they may have reserved", ", ".join(dead), *again_now)
        due = delivery_sql.claim_due_for_publish(conn, SWEEP_LIMIT, again, dead_after)
        chunks = chunk_sql.claim_due_for_publish(conn, SWEEP_LIMIT, again, dead_after)
        runs = run_sql.runs_held_by_dead_workers(conn, dead_after, SWEEP_LIMIT)
    with conn.transaction():
        left_open = run_sql.runs_left_open(conn, settings.retry_sweep_interval_s, SWEEP_LIMIT)
        finish_settled_runs(conn, left_open, settings.consecutive_failures_to_disable)
        delivery_sql.forget_counts_before(conn, datetime.now(UTC) - QUOTA_WINDOW - COUNTS_KEPT_PAST_WINDOW)
    # Published after commit; a crash in between only delays them by one republish interval.
    publish_deliveries(due, settings.deliveries_per_message)
    by_run: dict[UUID, list[int]] = {}
    for run_id, number in chunks:
        by_run.setdefault(run_id, []).append(number)
    for run_id, numbers in by_run.items():
        publish_chunks(run_id, numbers)
    publish_runs(runs, settings.runs_per_message)
    return len(due) + len(chunks) + len(runs)


class Sweeper(threading.Thread):
    """A daemon thread in the worker's main process that sweeps every interval until stopped."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(name="punctual-sweeper", daemon=True)
        self.settings = settings
        self.stopped = threading.Event()

    def run(self) -> None:
        conn: psycopg.Connection | None = None
        while not self.stopped.wait(self.settings.retry_sweep_interval_s):
            try:
                if conn is None or conn.closed:
                    # Its own connection, not the pool: the pool belongs to task code (and forks).
                    conn = connect(self.settings)
                while sweep_once(conn, self.settings) >= SWEEP_LIMIT:
                    pass  # a backlog (after an outage): keep going without waiting
            except Exception:
                logger.exception("sweep failed; retrying in %ss", self.settings.retry_sweep_interval_s)
                if conn is not None:
                    conn.close()
                conn = None
        if conn is not None:
            conn.close()

    def stop(self) -> None:
        self.stopped.set()
