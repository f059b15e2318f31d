"""The one connection pool and the one transaction helper."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from psycopg_pool import ConnectionPool

from shared.settings import Settings


def create_pool(settings: Settings, *, min_size: int | None = None, max_size: int | None = None,
                name: str = "punctual") -> ConnectionPool:
    """Open a connection pool on DATABASE_URL; raises psycopg.OperationalError if unreachable."""
    pool = ConnectionPool(
        settings.database_url,
        min_size=settings.db_pool_min if min_size is None else min_size,
        max_size=settings.db_pool_max if max_size is None else max_size,
        kwargs={"autocommit": False, "application_name": name},
        open=False,
        name=name,
    )
    pool.open(wait=True, timeout=30)
    return pool


@contextmanager
def transaction(pool: ConnectionPool) -> Iterator[psycopg.Connection]:
    """Yield a connection inside one transaction: commit on success, roll back on error."""
    with pool.connection() as conn, conn.transaction():
        yield conn


def connect(settings: Settings, *, autocommit: bool = False) -> psycopg.Connection:
    """Open one standalone connection (CLI, LISTEN); raises psycopg.OperationalError."""
    return psycopg.connect(settings.database_url, autocommit=autocommit)
