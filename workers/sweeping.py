"""The sweep: every worker republishes what PostgreSQL says is due (retries, lost or stalled messages).

Retry timing lives in PostgreSQL (deliveries.next_attempt_at / publish_after), not in Celery
countdowns: a countdown message on Redis is held unacknowledged in one worker's memory until
due, comes back after the visibility timeout if that worker is slow, and vanishes if Redis is
flushed. A sweep every few seconds costs one indexed query and makes a retry due at T go out
at most one interval after T, from whichever worker is alive.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from uuid import UUID

import psycopg

from shared.db import connect
from shared.settings import Settings
from shared.sql import deliveries as delivery_sql
from shared.sql import execution as ex_sql

logger = logging.getLogger("punctual.workers")
SWEEP_LIMIT = 1000


class Publishers:
    """Where the sweep hands what it found (the Celery side lives in tasks.py)."""

    def __init__(self, deliveries: Callable[[list[tuple[str, UUID]]], None],
                 chunks: Callable[[UUID, list[int]], None], runs: Callable[[list[UUID]], None]) -> None:
        self.deliveries = deliveries
        self.chunks = chunks
        self.runs = runs


def sweep_once(conn: psycopg.Connection, settings: Settings, publish: Publishers) -> int:
    """Claim and publish due deliveries, overdue chunks and stalled runs; return how many were published."""
    grace = settings.delivery_lease_s
    with conn.transaction():
        due = delivery_sql.claim_due_deliveries(conn, SWEEP_LIMIT, grace)
        chunks = ex_sql.claim_due_chunks(conn, SWEEP_LIMIT, grace)
        runs = ex_sql.claim_stalled_runs(conn, grace, SWEEP_LIMIT)
    # Published after commit; a crash in between only delays them by one grace period.
    if due:
        publish.deliveries(due)
    by_run: dict[UUID, list[int]] = {}
    for run_id, number in chunks:
        by_run.setdefault(run_id, []).append(number)
    for run_id, numbers in by_run.items():
        publish.chunks(run_id, numbers)
    if runs:
        publish.runs(runs)
    return len(due) + len(chunks) + len(runs)


class Sweeper(threading.Thread):
    """A daemon thread in the worker's main process that sweeps every interval until stopped."""

    def __init__(self, settings: Settings, publish: Publishers) -> None:
        super().__init__(name="punctual-sweeper", daemon=True)
        self.settings = settings
        self.publish = publish
        self.stopped = threading.Event()

    def run(self) -> None:
        conn: psycopg.Connection | None = None
        while not self.stopped.wait(self.settings.retry_sweep_interval_s):
            try:
                if conn is None or conn.closed:
                    # Its own connection, not the pool: the pool belongs to task code (and forks).
                    conn = connect(self.settings)
                while sweep_once(conn, self.settings, self.publish) >= SWEEP_LIMIT:
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
