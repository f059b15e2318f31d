"""Per-process worker state: settings and the database pool, opened after the fork."""

from __future__ import annotations

import threading
from dataclasses import dataclass

from psycopg_pool import ConnectionPool

from shared.db import create_pool
from shared.settings import Settings, load_settings


@dataclass
class WorkerState:
    settings: Settings
    pool: ConnectionPool


_state: WorkerState | None = None
_lock = threading.Lock()


def get_state() -> WorkerState:
    """Return this process's state, opening the pool on first use (never before a fork)."""
    global _state
    with _lock:
        if _state is None:
            settings = load_settings()
            _state = WorkerState(settings, create_pool(settings, min_size=1, name="punctual-worker"))
        return _state


def reset_state() -> None:
    """Forget the state (after a fork the parent's pool must not be reused)."""
    global _state
    _state = None
