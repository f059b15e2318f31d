"""PunctualScheduler: claim due schedules, insert their runs, advance, commit, then publish.

Started with `celery -A beat.app beat -S beat.scheduler:PunctualScheduler`. Any number may run
at once: the claim uses FOR UPDATE SKIP LOCKED and runs are unique per (schedule, slot).
"""

from __future__ import annotations

import logging
import os
import socket
import time
import uuid
from typing import Any
from uuid import UUID

import psycopg
from celery.beat import Scheduler
from psycopg_pool import ConnectionPool

from beat.planner import plan_schedule
from shared.celery_app import RUNS_QUEUE, TASK_START_RUNS
from shared.db import connect, create_pool, transaction
from shared.settings import Settings, load_settings
from shared.sql import dispatch

logger = logging.getLogger("punctual.beat")
WAKEUP_CHANNEL = "punctual_wakeup"
HEARTBEAT_EVERY_S = 1.0


class PunctualScheduler(Scheduler):
    """A celery beat scheduler whose schedule lives in PostgreSQL."""

    settings: Settings
    pool: ConnectionPool
    listener: psycopg.Connection | None

    def setup_schedule(self) -> None:
        self.settings = load_settings()
        self.pool = create_pool(self.settings, min_size=1, max_size=2, name="punctual-beat")
        self.beat_id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.listener = None
        self._last_heartbeat = 0.0
        self._published_since_heartbeat = 0
        self._listen()

    def _listen(self) -> None:
        # LISTEN on its own autocommit connection: notifications arrive only outside transactions.
        try:
            self.listener = connect(self.settings, autocommit=True)
            self.listener.execute(f"LISTEN {WAKEUP_CHANNEL}")
        except psycopg.Error:
            logger.warning("beat: LISTEN failed; falling back to polling", exc_info=True)
            self.listener = None

    # celery's Scheduler keeps an in-memory schedule dict; ours lives in the database.
    @property
    def schedule(self) -> dict[str, Any]:
        return {}

    def tick(self, *args: Any, **kwargs: Any) -> float:
        try:
            claimed, published, lag = self.fire_due()
        except psycopg.OperationalError:
            logger.warning("beat: database unavailable; retrying", exc_info=True)
            return min(1.0, self.settings.beat_max_sleep_s)
        if claimed or published:
            logger.info("beat tick: claimed=%d published=%d lag=%.3fs", claimed, published, lag)
        self._heartbeat(published)
        if claimed >= self.settings.beat_batch_size or published >= self.settings.beat_batch_size:
            return 0.0  # a full batch: more may be due right now
        self._wait()
        # The wait already happened inside _wait (so a NOTIFY can cut it short); ask for none.
        return 0.0

    def fire_due(self) -> tuple[int, int, float]:
        """One pass: claim, insert, advance, commit; then relay pending runs to the broker."""
        claimed, lag = self._claim_and_advance()
        published = self._relay()
        return claimed, published, lag

    def _claim_and_advance(self) -> tuple[int, float]:
        # Claim, insert and advance in ONE transaction: either the runs exist and next_run_at
        # moved, or neither happened. Publishing comes after the commit (transactional outbox).
        with transaction(self.pool) as conn:
            due = dispatch.claim_due_schedules(conn, self.settings.beat_batch_size)
            if not due:
                return 0, 0.0
            now = due[0].db_now  # the database's clock, the same for every beat
            slots: list[dispatch.RunSlot] = []
            advances: list[dispatch.Advance] = []
            for row in due:
                runs, advance = plan_schedule(row, now, self.settings.misfire_run_all_cap)
                slots.extend(runs)
                advances.append(advance)
            dispatch.insert_runs(conn, slots)
            dispatch.advance_schedules(conn, advances)
        lag = max((now - row.next_run_at).total_seconds() for row in due)
        return len(due), lag

    def _relay(self) -> int:
        total = 0
        batch = self.settings.beat_publish_batch
        while True:
            with transaction(self.pool) as conn:
                run_ids = dispatch.claim_unpublished_runs(
                    conn, self.settings.beat_batch_size, self.settings.beat_republish_after_s)
                if not run_ids:
                    return total
                # Publish while the rows are locked, then mark them: if the broker is down the
                # exception rolls back and the runs stay pending for a later tick.
                for start in range(0, len(run_ids), batch):
                    self._publish(run_ids[start:start + batch])
                dispatch.mark_runs_published(conn, run_ids)
            total += len(run_ids)
            if len(run_ids) < self.settings.beat_batch_size:
                return total

    def _publish(self, run_ids: list[UUID]) -> None:
        self.app.send_task(
            TASK_START_RUNS, args=[[str(r) for r in run_ids]], queue=RUNS_QUEUE,
            retry=False,  # a down broker must fail fast; the outbox keeps the runs
        )

    def _wait(self) -> None:
        try:
            with transaction(self.pool) as conn:
                earliest, now = dispatch.earliest_next_run_at(conn)
        except psycopg.OperationalError:
            time.sleep(1.0)
            return
        timeout = self.settings.beat_max_sleep_s
        if earliest is not None:
            timeout = max(0.0, min(timeout, (earliest - now).total_seconds()))
        if timeout <= 0:
            return
        if self.listener is None:
            time.sleep(timeout)
            self._listen()
            return
        try:
            for _ in self.listener.notifies(timeout=timeout, stop_after=1):
                break
        except psycopg.OperationalError:
            self.listener = None

    def _heartbeat(self, published: int) -> None:
        self._published_since_heartbeat += published
        if time.monotonic() - self._last_heartbeat < HEARTBEAT_EVERY_S:
            return
        try:
            with transaction(self.pool) as conn:
                dispatch.record_heartbeat(conn, self.beat_id, socket.gethostname(), os.getpid(),
                                          self._published_since_heartbeat)
        except psycopg.Error:
            logger.warning("beat: heartbeat failed", exc_info=True)
            return
        self._last_heartbeat = time.monotonic()
        self._published_since_heartbeat = 0

    def close(self) -> None:
        if self.listener is not None:
            self.listener.close()
        self.pool.close()
        super().close()
