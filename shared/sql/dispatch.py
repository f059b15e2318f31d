"""SQL for beat: claim due schedules, insert their runs, advance them, and the outbox relay."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

import psycopg
from psycopg.rows import class_row


@dataclass(frozen=True)
class DueSchedule:
    id: UUID
    organization_id: UUID
    kind: str
    cron_expression: str | None
    timezone: str
    misfire_policy: str
    next_run_at: datetime
    db_now: datetime


@dataclass(frozen=True)
class RunSlot:
    organization_id: UUID
    schedule_id: UUID
    scheduled_for: datetime
    trigger: str


@dataclass(frozen=True)
class Heartbeat:
    beat_id: str
    hostname: str
    pid: int
    published: int
    claimed: int
    lag_s: float


@dataclass(frozen=True)
class Advance:
    schedule_id: UUID
    next_run_at: datetime | None
    last_run_at: datetime | None
    skipped: int
    done: bool
    disabled_reason: str | None = None


def claim_due_schedules(conn: psycopg.Connection, limit: int) -> list[DueSchedule]:
    """Lock up to `limit` due schedules, oldest slot first, skipping rows another beat holds."""
    # SKIP LOCKED is what lets any number of beats run at once: each claims a disjoint batch,
    # and a beat that dies releases its locks with its connection.
    with conn.cursor(row_factory=class_row(DueSchedule)) as cur:
        cur.execute(
            """SELECT id, organization_id, kind, cron_expression, timezone, misfire_policy,
                      next_run_at, now() AS db_now
               FROM schedules
               WHERE enabled AND paused_at IS NULL AND system_disabled_at IS NULL
                 AND deleted_at IS NULL AND next_run_at IS NOT NULL AND next_run_at <= now()
               ORDER BY next_run_at
               LIMIT %s
               FOR UPDATE SKIP LOCKED""",
            (limit,), binary=True,
        )
        return cur.fetchall()


def insert_runs(conn: psycopg.Connection, slots: list[RunSlot]) -> int:
    """Insert one run per slot (a slot that already has a run is left alone); return inserted."""
    if not slots:
        return 0
    cur = conn.execute(
        """INSERT INTO runs (organization_id, schedule_id, scheduled_for, trigger)
           SELECT * FROM unnest(%b::uuid[], %b::uuid[], %b::timestamptz[], %b::text[])
           ON CONFLICT (schedule_id, scheduled_for) DO NOTHING""",
        (
            [s.organization_id for s in slots],
            [s.schedule_id for s in slots],
            [s.scheduled_for for s in slots],
            [s.trigger for s in slots],
        ),
    )
    return cur.rowcount


def advance_schedules(conn: psycopg.Connection, advances: list[Advance]) -> None:
    """Set next_run_at (and last_run_at, skipped count, done) of claimed schedules in one statement."""
    if not advances:
        return
    conn.execute(
        """UPDATE schedules s
           SET next_run_at = v.next_run_at,
               last_run_at = coalesce(v.last_run_at, s.last_run_at),
               skipped_slots = s.skipped_slots + v.skipped,
               done_at = CASE WHEN v.done THEN now() ELSE s.done_at END,
               system_disabled_at = CASE WHEN v.reason IS NULL THEN s.system_disabled_at ELSE now() END,
               system_disabled_reason = coalesce(v.reason, s.system_disabled_reason)
           FROM unnest(%b::uuid[], %b::timestamptz[], %b::timestamptz[], %b::int8[], %b::bool[], %b::text[])
                AS v(id, next_run_at, last_run_at, skipped, done, reason)
           WHERE s.id = v.id""",
        (
            [a.schedule_id for a in advances],
            [a.next_run_at for a in advances],
            [a.last_run_at for a in advances],
            [a.skipped for a in advances],
            [a.done for a in advances],
            [a.disabled_reason for a in advances],
        ),
    )


def mark_unpublished_runs(conn: psycopg.Connection, limit: int, republish_after_s: float) -> list[UUID]:
    """Mark up to `limit` runs published and return them: pending ones first, then ones published
    but never started for `republish_after_s`. The caller publishes them before it commits."""
    # One statement locks (SKIP LOCKED: other beats take other runs) and marks; if the broker
    # then fails, the caller's rollback puts the runs back as they were.
    ids = _mark(conn, """SELECT id FROM runs WHERE status = 'pending'
                         ORDER BY created_at LIMIT %s FOR UPDATE SKIP LOCKED""", (limit,))
    if len(ids) < limit:
        # A run published but never started (broker flushed, message lost) goes out again;
        # the worker's claim (status IN pending/published) makes a duplicate harmless.
        ids += _mark(conn, """SELECT id FROM runs
                              WHERE status = 'published' AND published_at < now() - make_interval(secs => %s)
                              ORDER BY published_at LIMIT %s FOR UPDATE SKIP LOCKED""",
                     (republish_after_s, limit - len(ids)))
    return ids


def _mark(conn: psycopg.Connection, select_ids: str, params: tuple[object, ...]) -> list[UUID]:
    rows = conn.execute(
        f"""UPDATE runs SET status = 'published', published_at = clock_timestamp(),
                            publish_count = publish_count + 1
            WHERE id IN ({select_ids}) RETURNING id""",  # type: ignore[arg-type]
        params, binary=True,
    ).fetchall()
    return [r[0] for r in rows]


def earliest_next_run_at(conn: psycopg.Connection) -> tuple[datetime | None, datetime]:
    """Return the earliest next_run_at among fireable schedules, and the database's now()."""
    row = conn.execute(
        """SELECT (SELECT min(next_run_at) FROM schedules
                   WHERE enabled AND paused_at IS NULL AND system_disabled_at IS NULL
                     AND deleted_at IS NULL AND next_run_at IS NOT NULL), now()"""
    ).fetchone()
    assert row is not None
    return row[0], row[1]


def record_heartbeat(conn: psycopg.Connection, beat: Heartbeat) -> None:
    """Upsert this beat's heartbeat row, with the age of the oldest run still waiting to be published."""
    conn.execute(
        """INSERT INTO beat_heartbeats (beat_id, hostname, pid, runs_published, last_tick_published,
                                        last_tick_claimed, last_lag_s, oldest_pending_run_at)
           VALUES (%(beat_id)s, %(hostname)s, %(pid)s, %(published)s, %(published)s, %(claimed)s, %(lag)s,
                   (SELECT min(created_at) FROM runs WHERE status = 'pending'))
           ON CONFLICT (beat_id) DO UPDATE SET last_tick_at = now(),
               runs_published = beat_heartbeats.runs_published + EXCLUDED.runs_published,
               last_tick_published = EXCLUDED.last_tick_published,
               last_tick_claimed = EXCLUDED.last_tick_claimed,
               last_lag_s = EXCLUDED.last_lag_s,
               oldest_pending_run_at = EXCLUDED.oldest_pending_run_at""",
        {"beat_id": beat.beat_id, "hostname": beat.hostname, "pid": beat.pid, "published": beat.published,
         "claimed": beat.claimed, "lag": beat.lag_s},
    )


def add_runs_published(conn: psycopg.Connection, beat_id: str, published: int) -> None:
    """Add runs this beat's relay just published to its heartbeat row."""
    conn.execute(
        """UPDATE beat_heartbeats SET runs_published = runs_published + %s, last_tick_published = %s
           WHERE beat_id = %s""",
        (published, published, beat_id),
    )


def delete_stale_heartbeats(conn: psycopg.Connection, older_than_s: float) -> int:
    """Forget beats not heard from for a while (they exited or died); return how many."""
    cur = conn.execute("DELETE FROM beat_heartbeats WHERE last_tick_at < now() - make_interval(secs => %s)",
                       (older_than_s,))
    return cur.rowcount
