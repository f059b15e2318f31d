"""Per-process worker state: settings, the database pool, this process's id and heartbeat, its HTTP client.

Created on first use in the process that runs tasks (after a prefork fork, never before), so each
process has its own pool, its own heartbeat and its own keep-alive connections.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import psycopg
from psycopg_pool import ConnectionPool

from shared.db import connection_lost, create_pool
from shared.settings import Settings, load_settings
from workers.liveness import Heartbeat, new_worker_id
from workers.outbound import HttpClient

logger = logging.getLogger("punctual.workers")


@dataclass
class WorkerState:
    settings: Settings
    pool: ConnectionPool
    worker_id: str
    heartbeat: Heartbeat
    http: HttpClient  # keep-alive connections per task thread; a batch's POSTs go out together on it

    def abandon_claims(self) -> None:
        """Take a new worker id, so that what this process claimed under the old one is taken up as a dead
        worker's is, once the old id's heartbeat is PUNCTUAL_WORKER_DEAD_AFTER old."""
        old, self.worker_id = self.worker_id, new_worker_id()
        self.heartbeat.worker_id = self.worker_id
        logger.warning("lost the database mid-task: claims of %s are left to be taken up; now %s", old,
                       self.worker_id)


_state: WorkerState | None = None
_lock = threading.Lock()


def get_state() -> WorkerState:
    """Return this process's state, opening the pool and starting the heartbeat on first use."""
    global _state
    with _lock:
        if _state is None:
            settings = load_settings()
            # Task threads and the heartbeat each hold a connection at times.
            pool = create_pool(settings, min_size=1, max_size=max(settings.db_pool_max, 4), name="punctual-worker")
            worker_id = new_worker_id()
            heartbeat = Heartbeat(settings, pool, worker_id)
            heartbeat.start()
            http = HttpClient(settings.outbound_allowlist, settings.delivery_concurrency)
            _state = WorkerState(settings, pool, worker_id, heartbeat, http)
        return _state


@contextmanager
def claims_abandoned_on_lost_connection() -> Iterator[None]:
    """Around a task: if the database connection is lost, abandon this process's claims, then re-raise.

    A task that loses PostgreSQL between claiming work (runs `running`, deliveries `sending`) and
    recording what became of it cannot hand it back either; the claims name a worker that is alive
    and heartbeating, so nobody would ever take them up. Under a new id the old one falls silent and
    its claims are taken up like a crashed worker's (a delivery already sent is sent again, with the
    same idempotency key).
    """
    try:
        yield
    except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
        # InterfaceError: a connection found closed under a statement (the server went away mid-use).
        if _state is not None and (isinstance(exc, psycopg.InterfaceError) or connection_lost(exc)):
            _state.abandon_claims()
        raise


def close_state() -> None:
    """Stop the heartbeat (removing it) and the pool, as the process exits."""
    global _state
    with _lock:
        state, _state = _state, None
    if state is not None:
        state.heartbeat.stop()
        state.pool.close()


def reset_state() -> None:
    """Forget the state without closing it (after a fork, the parent's pool and threads are not ours)."""
    global _state
    _state = None
