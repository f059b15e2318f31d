"""OutboxRelay: a thread that publishes pending runs (the outbox) while beat's main loop claims more."""

from __future__ import annotations

import logging
import threading
import time

import psycopg
from celery import Celery
from psycopg_pool import ConnectionPool

from beat.broker import BrokerPublisher, BrokerUnavailable
from shared.db import transaction
from shared.metrics import BEAT_FIRE_LAG_SECONDS, BEAT_PUBLISH_FAILURES, BEAT_RUNS_PUBLISHED
from shared.settings import Settings
from shared.sql import heartbeats, operations
from shared.sql import runs as run_sql

logger = logging.getLogger("punctual.beat")
# After a failed publish, leave the broker alone this long: each attempt holds outbox locks.
BROKER_RETRY_S = 1.0
# While the broker stays down, say so this often rather than once a second.
OUTAGE_LOG_EVERY_S = 30.0


class OutboxRelay(threading.Thread):
    """Publish pending runs in batches, marking them published in the same transaction.

    A thread of its own so that publishing one batch overlaps claiming the next (two database
    backends at work instead of one), and so that a slow or dead broker never stalls claiming.
    """

    def __init__(self, app: Celery, settings: Settings, pool: ConnectionPool, beat_id: str) -> None:
        super().__init__(name="punctual-relay", daemon=True)
        self.settings, self.pool, self.beat_id = settings, pool, beat_id
        self.publisher = BrokerPublisher(app, settings.beat_broker_timeout_s)
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._published = 0
        self._outage_since: float | None = None
        self._outage_logged = 0.0

    def wake(self) -> None:
        """Ask for a pass now (runs were just inserted, or a NOTIFY came)."""
        self._wake.set()

    def take_published(self) -> int:
        """Runs published since the last call."""
        with self._lock:
            count, self._published = self._published, 0
        return count

    @property
    def broker_down(self) -> bool:
        return self._outage_since is not None

    def run(self) -> None:
        while not self._stopping.is_set():
            # Also wake on a timer: runs left pending by a beat that died, and runs published but
            # never started, need no NOTIFY to go out again.
            self._wake.wait(timeout=self.settings.beat_max_sleep_s)
            self._wake.clear()
            if not self._stopping.is_set():
                self._record(self._drain())

    def _drain(self) -> int:
        drained = 0
        while not self._stopping.is_set():
            try:
                count = self._relay_batch()
            except BrokerUnavailable as error:
                self._on_outage(error)
                self._retry_soon()
                return drained
            except psycopg.Error:
                logger.warning("beat relay: database unavailable; retrying", exc_info=True)
                self._retry_soon()
                return drained
            except Exception:  # a bug must not end the thread: beat would fire but never publish
                logger.exception("beat relay: pass failed; retrying")
                self._retry_soon()
                return drained
            if self._outage_since is not None:
                logger.warning("beat relay: broker back after %.1fs", time.monotonic() - self._outage_since)
                self._outage_since = None
            with self._lock:
                self._published += count
            drained += count
            if count < self.settings.beat_batch_size:
                return drained
        return drained

    def _record(self, published: int) -> None:
        # The heartbeat's count is written here, as soon as a pass ends, not by the main loop,
        # which may be asleep for seconds by then.
        if not published:
            return
        try:
            with transaction(self.pool) as conn:
                heartbeats.add_runs_published(conn, self.beat_id, published)
        except psycopg.Error:
            logger.warning("beat relay: heartbeat failed", exc_info=True)

    def _relay_batch(self) -> int:
        size, batch = self.settings.beat_batch_size, self.settings.beat_publish_batch
        with transaction(self.pool) as conn:
            # Mark, then publish, then commit: the rows stay locked while the messages go out
            # (another beat skips them), and if the broker fails the exception rolls the marks
            # back so the runs stay pending for a later pass. A message sent before a failure in
            # the same batch is sent again later; workers claim a run once, so that is harmless.
            run_ids = run_sql.mark_unpublished_runs(conn, size, self.settings.beat_republish_after_s)
            lags: list[operations.PublishedRun] = []
            for start in range(0, len(run_ids), batch):
                chunk = run_ids[start:start + batch]
                self.publisher.publish(chunk)
                lags.extend(operations.read_first_publish_lags(conn, chunk))
        # Counted after the commit: a batch rolled back is published again later, and counts then.
        if run_ids:
            BEAT_RUNS_PUBLISHED.inc(len(run_ids))
            for run in lags:
                BEAT_FIRE_LAG_SECONDS.labels(run.trigger).observe(max(0.0, run.lag_s))
        return len(run_ids)

    def _on_outage(self, error: BrokerUnavailable) -> None:
        BEAT_PUBLISH_FAILURES.inc()
        now = time.monotonic()
        if self._outage_since is None:
            self._outage_since = now
        if now - self._outage_logged >= OUTAGE_LOG_EVERY_S:
            self._outage_logged = now
            logger.warning("beat relay: broker unavailable (%s); runs stay pending and are published later",
                           error)

    def _retry_soon(self) -> None:
        if not self._stopping.wait(BROKER_RETRY_S):
            self._wake.set()

    def stop(self) -> None:
        """Finish the current batch, then end the thread and drop the broker connection."""
        self._stopping.set()
        self._wake.set()
        if self.is_alive():
            self.join(timeout=10)
        self.publisher.close()
