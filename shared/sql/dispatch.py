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
class Advance:
    schedule_id: UUID
    next_run_at: datetime | None
    last_run_at: datetime | None
    skipped: int
    done: bool


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
            (limit,),
        )
        return cur.fetchall()


def insert_runs(conn: psycopg.Connection, slots: list[RunSlot]) -> int:
    """Insert one run per slot (a slot that already has a run is left alone); return inserted."""
    if not slots:
        return 0
    cur = conn.execute(
        """INSERT INTO runs (organization_id, schedule_id, scheduled_for, trigger)
           SELECT * FROM unnest(%s::uuid[], %s::uuid[], %s::timestamptz[], %s::text[])
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
               done_at = CASE WHEN v.done THEN now() ELSE s.done_at END
           FROM unnest(%s::uuid[], %s::timestamptz[], %s::timestamptz[], %s::int[], %s::bool[])
                AS v(id, next_run_at, last_run_at, skipped, done)
           WHERE s.id = v.id""",
        (
            [a.schedule_id for a in advances],
            [a.next_run_at for a in advances],
            [a.last_run_at for a in advances],
            [a.skipped for a in advances],
            [a.done for a in advances],
        ),
    )


def claim_unpublished_runs(conn: psycopg.Connection, limit: int, republish_after_s: float) -> list[UUID]:
    """Lock runs to publish: pending ones, and published ones never started after a grace time."""
    pending = conn.execute(
        """SELECT id FROM runs WHERE status = 'pending'
           ORDER BY created_at LIMIT %s FOR UPDATE SKIP LOCKED""",
        (limit,),
    ).fetchall()
    ids = [r[0] for r in pending]
    if len(ids) < limit:
        # A run published but never started (broker flushed, message lost) goes out again;
        # the worker's claim (status IN pending/published) makes a duplicate harmless.
        stale = conn.execute(
            """SELECT id FROM runs
               WHERE status = 'published' AND published_at < now() - make_interval(secs => %s)
               ORDER BY published_at LIMIT %s FOR UPDATE SKIP LOCKED""",
            (republish_after_s, limit - len(ids)),
        ).fetchall()
        ids.extend(r[0] for r in stale)
    return ids


def mark_runs_published(conn: psycopg.Connection, run_ids: list[UUID]) -> None:
    """Record that these runs are in the broker."""
    conn.execute(
        """UPDATE runs SET status = 'published', published_at = now(), publish_count = publish_count + 1
           WHERE id = ANY(%s) AND status IN ('pending', 'published')""",
        (run_ids,),
    )


def earliest_next_run_at(conn: psycopg.Connection) -> tuple[datetime | None, datetime]:
    """Return the earliest next_run_at among fireable schedules, and the database's now()."""
    row = conn.execute(
        """SELECT (SELECT min(next_run_at) FROM schedules
                   WHERE enabled AND paused_at IS NULL AND system_disabled_at IS NULL
                     AND deleted_at IS NULL AND next_run_at IS NOT NULL), now()"""
    ).fetchone()
    assert row is not None
    return row[0], row[1]


def record_heartbeat(conn: psycopg.Connection, beat_id: str, hostname: str, pid: int,
                     published: int) -> None:
    """Upsert this beat's heartbeat row."""
    conn.execute(
        """INSERT INTO beat_heartbeats (beat_id, hostname, pid, runs_published, last_tick_published)
           VALUES (%s, %s, %s, %s, %s)
           ON CONFLICT (beat_id) DO UPDATE SET last_tick_at = now(),
               runs_published = beat_heartbeats.runs_published + EXCLUDED.runs_published,
               last_tick_published = EXCLUDED.last_tick_published""",
        (beat_id, hostname, pid, published, published),
    )
