"""PunctualScheduler: claim due schedules, insert their runs, advance, commit, then publish.

Started with `celery -A beat.app beat -S beat.scheduler:PunctualScheduler`. Any number may run
at once: the claim uses FOR UPDATE SKIP LOCKED and runs are unique per (schedule, slot).
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from types import FrameType
from typing import Any

import psycopg
from celery.beat import Scheduler
from psycopg_pool import ConnectionPool

from beat.planner import plan_schedule
from beat.relay import OutboxRelay
from shared.db import connect, create_pool, transaction
from shared.metrics import (
    BEAT_METRICS,
    BEAT_RUNS_INSERTED,
    BEAT_SCHEDULES_CLAIMED,
    BEAT_TICK_SECONDS,
    start_metrics_server,
)
from shared.settings import Settings, load_settings
from shared.sql import heartbeats
from shared.sql import runs as run_sql
from shared.sql import schedules as schedule_sql

logger = logging.getLogger("punctual.beat")
WAKEUP_CHANNEL = "punctual_wakeup"
HEARTBEAT_EVERY_S = 1.0
# Heartbeat rows of beats silent this long are deleted (they exited or crashed).
HEARTBEAT_FORGET_S = 86400.0


class _StopWaiting(SystemExit):
    """Raised by the stop signal into beat's sleep (never into a tick's work) to end it at once.

    A SystemExit, so that wherever it lands Celery treats it as the shutdown it is.
    """


@dataclass
class TickStats:
    claimed: int = 0
    runs: int = 0
    published: int = 0
    lag_s: float = 0.0
    took_s: float = 0.0


class PunctualScheduler(Scheduler):
    """A celery beat scheduler whose schedule lives in PostgreSQL."""

    settings: Settings
    pool: ConnectionPool
    relay: OutboxRelay
    listener: psycopg.Connection | None

    def setup_schedule(self) -> None:
        self._stop_requested = False
        self._waiting = False
        self._closed = False
        self.metrics_server: Any = None
        self._install_stop_handlers()
        self.settings = load_settings()
        # Three connections: the main loop's, the relay thread's, and one spare for the heartbeat.
        self.pool = create_pool(self.settings, min_size=2, max_size=3, name="punctual-beat")
        self.hostname = socket.gethostname()
        self.beat_id = f"{self.hostname}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.relay = OutboxRelay(self.app, self.settings, self.pool, self.beat_id)
        self.listener = None
        self._last_heartbeat = 0.0
        with transaction(self.pool) as conn:
            heartbeats.delete_stale_beat_heartbeats(conn, HEARTBEAT_FORGET_S)
        # The row exists before the relay starts adding to its published count.
        self._heartbeat(TickStats(), force=True)
        self._listen()
        self.relay.start()
        if self.settings.beat_metrics_port:
            self.metrics_server = start_metrics_server(self.settings.beat_metrics_port, self.settings.metrics_bind,
                                                       BEAT_METRICS)
            logger.info("beat: metrics on http://%s:%d/metrics", self.settings.metrics_bind,
                        self.settings.beat_metrics_port)

    def _install_stop_handlers(self) -> None:
        # Celery's own handler closes the scheduler from inside the signal, wherever the main loop
        # is, then exits. Ours lets the tick in progress finish (its claim-advance transaction
        # commits, the relay's batch in flight is marked published), and cuts only the sleep short.
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, self._on_stop_signal)
            signal.signal(signal.SIGINT, self._on_stop_signal)

    def _on_stop_signal(self, signum: int, _frame: FrameType | None) -> None:
        if self._stop_requested:
            # A second signal: stop now. An open claim transaction rolls back, so the slots stay
            # due for the next beat; nothing is lost, only this tick's work is redone.
            raise SystemExit(0)
        self._stop_requested = True
        if self._waiting:
            raise _StopWaiting(0)

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
        self._stop_if_requested()
        started = time.monotonic()
        try:
            stats = self._claim_and_advance()
        except psycopg.Error:
            logger.warning("beat: database unavailable; retrying", exc_info=True)
            return min(1.0, self.settings.beat_max_sleep_s)
        except Exception:  # a bug in one tick must not stop beat; the next tick retries
            logger.exception("beat: tick failed; retrying")
            return min(1.0, self.settings.beat_max_sleep_s)
        if not self.relay.is_alive():  # it catches everything, but a beat that never publishes is the worst case
            logger.error("beat: relay thread ended; starting a new one")
            self.relay = OutboxRelay(self.app, self.settings, self.pool, self.beat_id)
            self.relay.start()
        # Every tick, not only when runs were inserted: a NOTIFY may be for a manual trigger or a
        # test delivery, whose run the API inserted and only the relay sends.
        self.relay.wake()
        stats.published = self.relay.take_published()
        if stats.claimed or stats.published:
            logger.info("beat tick: claimed=%d runs=%d published=%d lag=%.3fs took=%.3fs%s", stats.claimed,
                        stats.runs, stats.published, stats.lag_s, time.monotonic() - started,
                        " (broker down: runs wait in the outbox)" if self.relay.broker_down else "")
        if stats.claimed:
            BEAT_SCHEDULES_CLAIMED.inc(stats.claimed)
            BEAT_RUNS_INSERTED.inc(stats.runs)
            BEAT_TICK_SECONDS.observe(stats.took_s)
        if stats.claimed >= self.settings.beat_batch_size:
            self._heartbeat(stats, force=False)
            self._stop_if_requested()
            return 0.0  # a full batch: more may be due right now
        # About to sleep: record what this tick did now, not a whole sleep later.
        self._heartbeat(stats, force=stats.claimed > 0)
        self._wait()
        self._stop_if_requested()
        # The wait already happened inside _wait (so a NOTIFY can cut it short); ask for none.
        return 0.0

    def _stop_if_requested(self) -> None:
        if self._stop_requested:
            # Between ticks: the last one committed; close() lets the relay finish its batch.
            logger.info("beat: stop requested; the last tick is done, stopping")
            raise SystemExit(0)

    def _claim_and_advance(self) -> TickStats:
        # Claim, insert and advance in ONE transaction: either the runs exist and next_run_at
        # moved, or neither happened. Publishing comes after the commit (transactional outbox),
        # so a down broker never stops slots from being recorded.
        started = time.monotonic()
        with transaction(self.pool) as conn:
            due = schedule_sql.claim_due_schedules(conn, self.settings.beat_batch_size)
            if not due:
                return TickStats()
            now = due[0].db_now  # the database's clock, the same for every beat
            slots: list[run_sql.RunSlot] = []
            advances: list[schedule_sql.Advance] = []
            for row in due:
                runs, advance = plan_schedule(row, now, self.settings.misfire_run_all_cap)
                slots.extend(runs)
                advances.append(advance)
                if advance.disabled_reason:
                    logger.error("beat: schedule %s disabled: %s", row.id, advance.disabled_reason)
            inserted = run_sql.insert_runs(conn, slots)
            schedule_sql.advance_schedules(conn, advances)
        lag = max((now - row.next_run_at).total_seconds() for row in due)
        return TickStats(claimed=len(due), runs=inserted, lag_s=lag, took_s=time.monotonic() - started)

    def _wait(self) -> None:
        try:
            with transaction(self.pool) as conn:
                earliest, now = schedule_sql.earliest_next_run_at(conn)
        except psycopg.Error:
            time.sleep(1.0)
            return
        timeout = self.settings.beat_max_sleep_s
        if earliest is not None:
            timeout = min(timeout, max(0.0, _seconds_until(earliest, now)))
        if timeout <= 0:
            return
        # Only while _waiting is set may the stop signal raise (into the sleep below): nothing
        # here holds a transaction.
        self._waiting = True
        try:
            if self._stop_requested:
                return
            self._sleep(timeout)
        except _StopWaiting:
            return
        finally:
            self._waiting = False

    def _sleep(self, timeout: float) -> None:
        if self.listener is None:
            time.sleep(timeout)
            self._listen()
            return
        try:
            for _ in self.listener.notifies(timeout=timeout, stop_after=1):
                break
        except psycopg.Error:
            logger.warning("beat: LISTEN connection lost; reconnecting", exc_info=True)
            self.listener.close()
            self.listener = None

    def _heartbeat(self, stats: TickStats, *, force: bool) -> None:
        if not force and time.monotonic() - self._last_heartbeat < HEARTBEAT_EVERY_S:
            return
        # published=0: the relay thread adds its own count as each pass ends.
        beat = heartbeats.BeatHeartbeat(self.beat_id, self.hostname, os.getpid(), 0, stats.claimed, stats.lag_s)
        try:
            with transaction(self.pool) as conn:
                heartbeats.record_beat_heartbeat(conn, beat)
        except psycopg.Error:
            logger.warning("beat: heartbeat failed", exc_info=True)
            return
        self._last_heartbeat = time.monotonic()

    def close(self) -> None:
        if getattr(self, "_closed", True):  # closed already, or setup_schedule never ran
            return
        self._closed = True
        self.relay.stop()  # returns once the batch in flight is published and committed
        if self.listener is not None:
            self.listener.close()
        if self.metrics_server is not None:
            self.metrics_server.shutdown()
        self.pool.close()
        super().close()
        logger.info("beat: stopped")


def _seconds_until(moment: datetime, now: datetime) -> float:
    return (moment - now).total_seconds()
