"""Read-only SQL for operators: counts by status, beat heartbeats, failing schedules, fire lag.

Every query here is bounded by an index (the BRIN indexes on created_at, the outbox's partial
indexes) or by a small table, so a metrics scrape or `punctual status` stays cheap on a big
database. Nothing here writes; each table's owner module does that.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

import psycopg
from psycopg.rows import class_row

# A scrape or a status call never waits long on a busy database.
STATEMENT_TIMEOUT_MS = 5000


@dataclass(frozen=True)
class BeatHeartbeat:
    beat_id: str
    hostname: str
    pid: int
    started_at: datetime
    last_tick_at: datetime
    seconds_since_tick: float
    runs_published: int
    last_tick_claimed: int
    last_lag_s: float
    oldest_pending_run_at: datetime | None


@dataclass(frozen=True)
class Outbox:
    pending: int
    oldest_pending_age_s: float | None


@dataclass(frozen=True)
class FailingSchedule:
    id: UUID
    organization_id: UUID
    name: str
    consecutive_failures: int
    last_status: str | None
    system_disabled_at: datetime | None
    system_disabled_reason: str | None


@dataclass(frozen=True)
class PublishedRun:
    trigger: str
    lag_s: float


def limit_statement_time(conn: psycopg.Connection) -> None:
    """Bound every statement of the caller's transaction to STATEMENT_TIMEOUT_MS."""
    conn.execute(f"SET LOCAL statement_timeout = {STATEMENT_TIMEOUT_MS}")


def count_runs_by_status(conn: psycopg.Connection, since_s: float) -> dict[str, int]:
    """Runs created in the last `since_s` seconds, by their current status."""
    rows = conn.execute(
        """SELECT status, count(*) FROM runs
           WHERE created_at >= now() - make_interval(secs => %s) GROUP BY status""", (since_s,)).fetchall()
    return {str(status): int(count) for status, count in rows}


def count_deliveries_by_status(conn: psycopg.Connection, since_s: float) -> dict[str, int]:
    """Deliveries created in the last `since_s` seconds, by their current status."""
    rows = conn.execute(
        """SELECT status, count(*) FROM deliveries
           WHERE created_at >= now() - make_interval(secs => %s) GROUP BY status""", (since_s,)).fetchall()
    return {str(status): int(count) for status, count in rows}


def list_heartbeats(conn: psycopg.Connection) -> list[BeatHeartbeat]:
    """Every beat that recorded a heartbeat, most recent tick first."""
    with conn.cursor(row_factory=class_row(BeatHeartbeat)) as cur:
        cur.execute(
            """SELECT beat_id, hostname, pid, started_at, last_tick_at,
                      extract(epoch FROM now() - last_tick_at)::float8 AS seconds_since_tick,
                      runs_published, last_tick_claimed, last_lag_s, oldest_pending_run_at
               FROM beat_heartbeats ORDER BY last_tick_at DESC""")
        return cur.fetchall()


def read_outbox(conn: psycopg.Connection) -> Outbox:
    """How many runs wait to be published, and the age of the oldest (the outbox's partial index)."""
    row = conn.execute(
        """SELECT count(*), extract(epoch FROM now() - min(created_at))::float8
           FROM runs WHERE status = 'pending'""").fetchone()
    assert row is not None
    return Outbox(int(row[0]), row[1])


def list_failing_schedules(conn: psycopg.Connection, limit: int) -> list[FailingSchedule]:
    """Live schedules whose last runs failed or that Punctual disabled, the worst first."""
    with conn.cursor(row_factory=class_row(FailingSchedule)) as cur:
        cur.execute(
            """SELECT id, organization_id, name, consecutive_failures, last_status,
                      system_disabled_at, system_disabled_reason
               FROM schedules
               WHERE deleted_at IS NULL AND (consecutive_failures > 0 OR system_disabled_at IS NOT NULL)
               ORDER BY system_disabled_at IS NULL, consecutive_failures DESC, id
               LIMIT %s""", (limit,))
        return cur.fetchall()


def count_system_disabled_schedules(conn: psycopg.Connection) -> int:
    """Live schedules Punctual disabled (their partial index keeps this cheap)."""
    row = conn.execute(
        "SELECT count(*) FROM schedules WHERE system_disabled_at IS NOT NULL AND deleted_at IS NULL").fetchone()
    assert row is not None
    return int(row[0])


def read_first_publish_lags(conn: psycopg.Connection, run_ids: Sequence[UUID]) -> list[PublishedRun]:
    """For runs just published for the first time, their trigger and seconds from slot to now."""
    # Called right after the publish, in the relay's transaction: clock_timestamp() is the moment
    # the broker took the message. Re-published runs (publish_count > 1) are left out: their lag
    # measures a lost message, not firing.
    with conn.cursor(row_factory=class_row(PublishedRun)) as cur:
        cur.execute(
            """SELECT trigger, extract(epoch FROM clock_timestamp() - scheduled_for)::float8 AS lag_s
               FROM runs WHERE id = ANY(%s) AND publish_count = 1""", (list(run_ids),), binary=True)
        return cur.fetchall()
