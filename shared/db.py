"""The one connection pool and the one transaction helper."""

from __future__ import annotations

import select
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from psycopg_pool import ConnectionPool

from shared.settings import Settings


def create_pool(settings: Settings, *, min_size: int | None = None, max_size: int | None = None,
                name: str = "punctual", timeout_s: float = 30.0) -> ConnectionPool:
    """Open a connection pool on DATABASE_URL; raises psycopg.OperationalError if unreachable.

    A caller waits at most `timeout_s` for a connection, then gets psycopg_pool.PoolTimeout (an
    OperationalError).
    """
    pool = ConnectionPool(
        settings.database_url,
        min_size=settings.db_pool_min if min_size is None else min_size,
        max_size=settings.db_pool_max if max_size is None else max_size,
        kwargs={"autocommit": False, "application_name": name},
        open=False,
        name=name,
        # Every connection is checked as it leaves the pool: after PostgreSQL restarts, the idle
        # ones are all dead, and without the check each would fail one transaction before the
        # pool noticed. A broken one is dropped and replaced (the pool reconnects in the background).
        check=check_idle_connection,
        timeout=timeout_s,
    )
    pool.open(wait=True, timeout=30)
    return pool


def check_idle_connection(conn: psycopg.Connection) -> None:
    """Raise psycopg.OperationalError if an idle pooled connection is gone; a round trip only when in doubt.

    An idle connection has nothing to read unless the server has spoken: a shutdown notice, or the end
    of the stream when it went away (a restart, a crash, a terminated backend). So a zero-timeout poll
    of the socket decides, and only a readable one pays for the empty query that proves it alive; a
    check that always queried would cost a round trip on every transaction, the hottest path we have.
    """
    if conn.closed or conn.broken:
        raise psycopg.OperationalError("the pooled connection is closed")
    readable, _, _ = select.select([conn.pgconn.socket], [], [], 0)
    if readable:
        ConnectionPool.check_connection(conn)


@contextmanager
def transaction(pool: ConnectionPool) -> Iterator[psycopg.Connection]:
    """Yield a connection inside one transaction: commit on success, roll back on error."""
    with pool.connection() as conn, conn.transaction():
        yield conn


# SQLSTATEs of a server going away: 57P01 admin shutdown, 57P02 crash shutdown, 57P03 starting up.
_SERVER_GONE = ("57P01", "57P02", "57P03")


def connection_lost(exc: BaseException) -> bool:
    """True when `exc` says the connection to PostgreSQL is gone (down, restarting, unreachable, no pooled
    connection in time), not that a statement failed (a timeout, a deadlock, a constraint)."""
    if not isinstance(exc, psycopg.OperationalError):
        return False
    state = getattr(exc, "sqlstate", None)
    return state is None or state.startswith("08") or state in _SERVER_GONE


def connect(settings: Settings, *, autocommit: bool = False) -> psycopg.Connection:
    """Open one standalone connection (CLI, LISTEN); raises psycopg.OperationalError."""
    return psycopg.connect(settings.database_url, autocommit=autocommit)
