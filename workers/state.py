"""Per-process worker state: settings, the database pool, this process's id and heartbeat, its senders.

Created on first use in the process that runs tasks (after a prefork fork, never before), so each
process has its own pool, its own heartbeat and its own keep-alive connections.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from psycopg_pool import ConnectionPool

from shared.db import create_pool
from shared.settings import Settings, load_settings
from workers.liveness import Heartbeat, new_worker_id
from workers.outbound import HttpClient


@dataclass
class WorkerState:
    settings: Settings
    pool: ConnectionPool
    worker_id: str
    heartbeat: Heartbeat
    http: HttpClient
    senders: ThreadPoolExecutor  # sends of a batch run here concurrently (webhook, Slack)


_state: WorkerState | None = None
_lock = threading.Lock()


def get_state() -> WorkerState:
    """Return this process's state, opening the pool and starting the heartbeat on first use."""
    global _state
    with _lock:
        if _state is None:
            settings = load_settings()
            # Task threads, sender threads and the heartbeat each hold a connection at times.
            pool = create_pool(settings, min_size=1, max_size=max(settings.db_pool_max, 4), name="punctual-worker")
            worker_id = new_worker_id()
            heartbeat = Heartbeat(settings, pool, worker_id)
            heartbeat.start()
            http = HttpClient(settings.outbound_allowlist, settings.delivery_concurrency)
            senders = ThreadPoolExecutor(settings.delivery_concurrency, thread_name_prefix="punctual-send")
            _state = WorkerState(settings, pool, worker_id, heartbeat, http, senders)
        return _state


def close_state() -> None:
    """Stop the heartbeat (removing it), the senders and the pool, as the process exits."""
    global _state
    with _lock:
        state, _state = _state, None
    if state is not None:
        state.heartbeat.stop()
        state.senders.shutdown(wait=True)
        state.pool.close()


def reset_state() -> None:
    """Forget the state without closing it (after a fork, the parent's pool and threads are not ours)."""
    global _state
    _state = None
