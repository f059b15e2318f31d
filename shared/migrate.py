"""SQL migrations: numbered .sql files applied in order, each once, recorded in a table."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import psycopg

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
# Any fixed number; it only has to be the same for every process that migrates.
_LOCK_KEY = 7_283_614_001


def list_migrations(directory: Path = MIGRATIONS_DIR) -> list[Path]:
    """Return the migration files ordered by their numeric prefix."""
    return sorted(directory.glob("[0-9][0-9][0-9][0-9]_*.sql"), key=lambda p: p.name)


# Told (name, position, count, None) before a migration runs and (..., seconds) after it ran.
Progress = Callable[[str, int, int, float | None], None]


def apply_migrations(conn: psycopg.Connection, directory: Path = MIGRATIONS_DIR,
                     progress: Progress | None = None) -> list[str]:
    """Apply the migrations not yet recorded and return their names; raises psycopg.Error."""
    applied: list[str] = []
    with conn.transaction():
        # An advisory lock makes concurrent `punctual migrate` runs (several containers
        # starting at once) wait for each other instead of applying a file twice.
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
        conn.execute(
            """CREATE TABLE IF NOT EXISTS schema_migrations (
                   name text PRIMARY KEY,
                   applied_at timestamptz NOT NULL DEFAULT now())"""
        )
        done = {row[0] for row in conn.execute("SELECT name FROM schema_migrations")}
        pending = [path for path in list_migrations(directory) if path.name not in done]
        for position, path in enumerate(pending, start=1):
            if progress is not None:
                progress(path.name, position, len(pending), None)
            started = time.monotonic()
            conn.execute(path.read_text())  # type: ignore[arg-type]
            conn.execute("INSERT INTO schema_migrations (name) VALUES (%s)", (path.name,))
            applied.append(path.name)
            if progress is not None:
                progress(path.name, position, len(pending), time.monotonic() - started)
    return applied
