"""The worker's heartbeat: a thread that tells PostgreSQL every few seconds that this process is alive.

Runs, chunks and deliveries a worker claims carry its id; another worker takes them up only once
this heartbeat has been silent for PUNCTUAL_WORKER_DEAD_AFTER seconds. So a crashed worker costs
seconds, and a slow one, which keeps beating, is never doubled.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid

from psycopg_pool import ConnectionPool

from shared.db import transaction
from shared.settings import Settings
from shared.sql import heartbeats

logger = logging.getLogger("punctual.workers")


def new_worker_id() -> str:
    """A process-unique id: host, pid, and a random part (a pid is reused after a restart)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class Heartbeat(threading.Thread):
    """Beats on its own pool connection until stopped; the first beat happens before start() returns."""

    def __init__(self, settings: Settings, pool: ConnectionPool, worker_id: str) -> None:
        super().__init__(name="punctual-heartbeat", daemon=True)
        self.settings, self.pool, self.worker_id = settings, pool, worker_id
        self.stopped = threading.Event()
        self.beat()  # claims made right after start are backed by a heartbeat already

    def beat(self) -> None:
        """Record one heartbeat; raises psycopg.Error when the database is unreachable."""
        with transaction(self.pool) as conn:
            heartbeats.beat_worker(conn, self.worker_id, socket.gethostname(), os.getpid())

    def run(self) -> None:
        while not self.stopped.wait(self.settings.worker_heartbeat_interval_s):
            try:
                self.beat()
            except Exception:  # a database blip: the next beat retries, well before dead_after
                logger.warning("worker heartbeat failed; retrying", exc_info=True)

    def stop(self) -> None:
        """Stop beating and remove the heartbeat, so what this worker still holds is taken up at once."""
        self.stopped.set()
        try:
            with transaction(self.pool) as conn:
                heartbeats.forget_worker(conn, self.worker_id)
        except Exception:
            logger.warning("could not remove the worker heartbeat; it expires by itself", exc_info=True)
