"""SQL for schedules and their subscribers."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any
from uuid import UUID

import psycopg
from psycopg.rows import class_row
from psycopg.types.json import Jsonb


@dataclass(frozen=True)
class Schedule:
    id: UUID
    organization_id: UUID
    command_id: UUID | None
    name: str
    kind: str
    cron_expression: str | None
    execute_at: datetime | None
    timezone: str
    enabled: bool
    paused_at: datetime | None
    system_disabled_at: datetime | None
    system_disabled_reason: str | None
    run_mode: str
    fan_out: bool
    destination_type: str
    destination: dict[str, Any]
    format: str
    format_options: dict[str, Any]
    query_key: str | None
    max_row_limit: int | None
    override_row_limit: bool
    filters: dict[str, Any]
    alert_condition: str | None
    misfire_policy: str
    retry_max_attempts: int
    retry_base_delay_s: float
    retry_max_delay_s: float
    next_run_at: datetime | None
    last_run_at: datetime | None
    last_status: str | None
    last_completed_at: datetime | None
    consecutive_failures: int
    skipped_slots: int
    done_at: datetime | None
    created_by_user_id: UUID | None
    created_at: datetime
    updated_at: datetime
    # A hidden send's owner ('message', 'campaign'), content and target (shared/sql/sends.py); NULL for users'.
    owner: str | None
    send_content: dict[str, Any] | None
    send_target: dict[str, Any] | None


# Users' schedules: the only ones the schedules routes, listings and quota see. A hidden send's schedule is
# reached through its owner (shared/sql/sends.py), and is a 404 on every schedules route.
USERS_ONLY = "owner IS NULL"
SCHEDULE_COLUMNS = ", ".join(f.name for f in fields(Schedule))
# Columns a caller may set on insert/update; everything else is owned by beat and workers.
WRITABLE_COLUMNS = frozenset({
    "command_id", "name", "kind", "cron_expression", "execute_at", "timezone", "enabled",
    "run_mode", "fan_out", "destination_type", "destination", "destination_secret", "format",
    "format_options", "query_key", "max_row_limit", "override_row_limit", "filters", "alert_condition",
    "misfire_policy", "retry_max_attempts", "retry_base_delay_s", "retry_max_delay_s", "next_run_at",
    "created_by_user_id", "done_at",
})
_JSON_COLUMNS = frozenset({"destination", "format_options", "filters"})


def _adapt(column: str, value: Any) -> Any:
    return Jsonb(value) if column in _JSON_COLUMNS else value


def insert_schedule(conn: psycopg.Connection, organization_id: UUID, values: dict[str, Any]) -> Schedule:
    """Insert a schedule from writable column values; raises ValueError on an unknown column."""
    unknown = set(values) - WRITABLE_COLUMNS
    if unknown:
        raise ValueError(f"not writable: {sorted(unknown)}")
    columns = ["organization_id", *values]
    params = [organization_id, *(_adapt(c, v) for c, v in values.items())]
    placeholders = ", ".join(["%s"] * len(columns))
    with conn.cursor(row_factory=class_row(Schedule)) as cur:
        cur.execute(
            f"INSERT INTO schedules ({', '.join(columns)}) VALUES ({placeholders}) RETURNING {SCHEDULE_COLUMNS}",
            params,
        )
        row = cur.fetchone()
    assert row is not None
    return row


def update_schedule(conn: psycopg.Connection, organization_id: UUID, schedule_id: UUID,
                    values: dict[str, Any]) -> Schedule | None:
    """Update writable columns of a live schedule; return it, or None if it does not exist."""
    unknown = set(values) - WRITABLE_COLUMNS
    if unknown:
        raise ValueError(f"not writable: {sorted(unknown)}")
    assignments = ", ".join(f"{c} = %s" for c in values)
    params = [*(_adapt(c, v) for c, v in values.items()), schedule_id, organization_id]
    with conn.cursor(row_factory=class_row(Schedule)) as cur:
        cur.execute(
            f"""UPDATE schedules SET {assignments}{', ' if assignments else ''}updated_at = now()
                WHERE id = %s AND organization_id = %s AND deleted_at IS NULL AND {USERS_ONLY}
                RETURNING {SCHEDULE_COLUMNS}""",
            params,
        )
        return cur.fetchone()


def get_schedule(conn: psycopg.Connection, organization_id: UUID, schedule_id: UUID,
                 *, for_update: bool = False) -> Schedule | None:
    """Return a live schedule of the organization, or None."""
    lock = " FOR UPDATE" if for_update else ""
    with conn.cursor(row_factory=class_row(Schedule)) as cur:
        cur.execute(
            f"""SELECT {SCHEDULE_COLUMNS} FROM schedules
                WHERE id = %s AND organization_id = %s AND deleted_at IS NULL AND {USERS_ONLY}{lock}""",
            (schedule_id, organization_id),
        )
        return cur.fetchone()


def soft_delete_schedule(conn: psycopg.Connection, organization_id: UUID, schedule_id: UUID) -> bool:
    """Mark a schedule deleted (its runs stay on record); return whether one was deleted."""
    cur = conn.execute(
        """UPDATE schedules SET deleted_at = now(), next_run_at = NULL, updated_at = now()
           WHERE id = %s AND organization_id = %s AND deleted_at IS NULL AND owner IS NULL""",
        (schedule_id, organization_id),
    )
    return cur.rowcount == 1


def set_subscribers(conn: psycopg.Connection, organization_id: UUID, schedule_id: UUID,
                    user_ids: list[UUID]) -> int:
    """Add users as subscribers (existing ones are kept); return how many were added."""
    cur = conn.execute(
        """INSERT INTO schedule_subscribers (schedule_id, user_id, organization_id)
           SELECT %s, u.id, u.organization_id FROM users u
           WHERE u.organization_id = %s AND u.id = ANY(%b)
           ON CONFLICT DO NOTHING""",
        (schedule_id, organization_id, user_ids),
    )
    return cur.rowcount


def remove_subscribers(conn: psycopg.Connection, organization_id: UUID, schedule_id: UUID,
                       user_ids: list[UUID]) -> int:
    """Remove users from a schedule's subscribers; return how many were removed."""
    cur = conn.execute(
        """DELETE FROM schedule_subscribers
           WHERE schedule_id = %s AND organization_id = %s AND user_id = ANY(%b)""",
        (schedule_id, organization_id, user_ids),
    )
    return cur.rowcount


def list_subscriber_ids(conn: psycopg.Connection, schedule_id: UUID) -> list[UUID]:
    """Return the user ids subscribed to a schedule, oldest first."""
    rows = conn.execute(
        "SELECT user_id FROM schedule_subscribers WHERE schedule_id = %s ORDER BY created_at, user_id",
        (schedule_id,),
    ).fetchall()
    return [r[0] for r in rows]


def notify_beat(conn: psycopg.Connection) -> None:
    """Wake every beat at commit (created, changed, resumed or triggered schedule)."""
    conn.execute("SELECT pg_notify('punctual_wakeup', '')")


def pause_schedule(conn: psycopg.Connection, organization_id: UUID, schedule_id: UUID) -> None:
    """Mark a live schedule paused now (beat's due index leaves paused rows out)."""
    conn.execute(
        """UPDATE schedules SET paused_at = now(), updated_at = now()
           WHERE id = %s AND organization_id = %s AND deleted_at IS NULL AND owner IS NULL""",
        (schedule_id, organization_id),
    )


def resume_schedule(conn: psycopg.Connection, organization_id: UUID, schedule_id: UUID,
                    next_run_at: datetime | None) -> None:
    """Clear a schedule's pause and set its next slot (computed from now, so no missed burst)."""
    conn.execute(
        """UPDATE schedules SET paused_at = NULL, next_run_at = %s, updated_at = now()
           WHERE id = %s AND organization_id = %s AND deleted_at IS NULL AND owner IS NULL""",
        (next_run_at, schedule_id, organization_id),
    )


def get_destination_secret(conn: psycopg.Connection, organization_id: UUID, schedule_id: UUID) -> bytes | None:
    """The encrypted destination secret of a schedule of the organization, or None."""
    row = conn.execute("SELECT destination_secret FROM schedules WHERE id = %s AND organization_id = %s",
                       (schedule_id, organization_id)).fetchone()
    return bytes(row[0]) if row and row[0] is not None else None


def clear_system_disabled(conn: psycopg.Connection, organization_id: UUID, schedule_id: UUID) -> None:
    """Re-enable a schedule beat disabled after repeated failures; its failure streak starts again."""
    conn.execute(
        """UPDATE schedules SET system_disabled_at = NULL, system_disabled_reason = NULL, consecutive_failures = 0,
                                updated_at = now()
           WHERE id = %s AND organization_id = %s AND deleted_at IS NULL AND owner IS NULL""",
        (schedule_id, organization_id),
    )


def list_plaintext_slack_urls(conn: psycopg.Connection) -> list[tuple[UUID, dict[str, Any], bytes | None]]:
    """Every Slack schedule (of any organization, deleted ones included) whose public destination still holds
    its URL, locked: (id, destination, destination_secret). For the one-time move of the URL into the secrets."""
    rows = conn.execute(
        """SELECT id, destination, destination_secret FROM schedules
           WHERE destination_type = 'slack' AND destination ? 'url' ORDER BY id FOR UPDATE"""
    ).fetchall()
    return [(r[0], r[1], bytes(r[2]) if r[2] is not None else None) for r in rows]


def store_destination(conn: psycopg.Connection, schedule_id: UUID, destination: dict[str, Any],
                      destination_secret: bytes | None) -> None:
    """Overwrite a schedule's public destination and encrypted secrets (any organization: for migrations only)."""
    conn.execute("UPDATE schedules SET destination = %s, destination_secret = %s WHERE id = %s",
                 (Jsonb(destination), destination_secret, schedule_id))


# --- Beat: claim due schedules and advance them -------------------------------------------------

FIREABLE = ("enabled AND paused_at IS NULL AND system_disabled_at IS NULL AND deleted_at IS NULL "
            "AND next_run_at IS NOT NULL")


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
            f"""SELECT id, organization_id, kind, cron_expression, timezone, misfire_policy,
                       next_run_at, now() AS db_now
                FROM schedules WHERE {FIREABLE} AND next_run_at <= now()
                ORDER BY next_run_at LIMIT %s FOR UPDATE SKIP LOCKED""",
            (limit,), binary=True,
        )
        return cur.fetchall()


def advance_schedules(conn: psycopg.Connection, advances: Sequence[Advance]) -> None:
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
        ([a.schedule_id for a in advances], [a.next_run_at for a in advances], [a.last_run_at for a in advances],
         [a.skipped for a in advances], [a.done for a in advances], [a.disabled_reason for a in advances]),
    )


def earliest_next_run_at(conn: psycopg.Connection) -> tuple[datetime | None, datetime]:
    """Return the earliest next_run_at among fireable schedules, and the database's now()."""
    row = conn.execute(f"SELECT (SELECT min(next_run_at) FROM schedules WHERE {FIREABLE}), now()").fetchone()
    assert row is not None
    return row[0], row[1]


# --- Workers: what a run's outcome does to its schedule ----------------------------------------

@dataclass(frozen=True)
class ScheduleStreak:
    id: UUID
    consecutive_failures: int
    system_disabled: bool


@dataclass(frozen=True)
class RunResult:
    """A finished run's effect on its schedule (the streak decided by shared.run_policy)."""
    schedule_id: UUID
    status: str
    consecutive_failures: int
    disable_reason: str | None


def lock_streaks(conn: psycopg.Connection, schedule_ids: Sequence[UUID]) -> dict[UUID, ScheduleStreak]:
    """Lock schedules in id order and return their failure streaks (for the policy to decide)."""
    rows = conn.execute(
        """SELECT id, consecutive_failures, system_disabled_at IS NOT NULL FROM schedules
           WHERE id = ANY(%b) ORDER BY id FOR NO KEY UPDATE""",
        (list(schedule_ids),),
    ).fetchall()
    return {r[0]: ScheduleStreak(r[0], r[1], r[2]) for r in rows}


def record_run_results(conn: psycopg.Connection, results: Sequence[RunResult]) -> None:
    """Set schedules' last status and failure streak, disabling those the policy disabled, in one statement."""
    if not results:
        return
    conn.execute(
        """UPDATE schedules s SET last_status = v.status, last_completed_at = now(),
                  consecutive_failures = v.streak,
                  system_disabled_at = CASE WHEN v.reason IS NULL THEN s.system_disabled_at ELSE now() END,
                  system_disabled_reason = coalesce(v.reason, s.system_disabled_reason)
           FROM unnest(%b::uuid[], %b::text[], %b::int[], %b::text[]) AS v(id, status, streak, reason)
           WHERE s.id = v.id""",
        ([r.schedule_id for r in results], [r.status for r in results],
         [r.consecutive_failures for r in results], [r.disable_reason for r in results]),
    )


def disable_schedules(conn: psycopg.Connection, reasons: Mapping[UUID, str]) -> None:
    """System-disable schedules (e.g. their webhook answered 410 Gone); re-enabling is explicit."""
    if reasons:
        conn.execute(
            """UPDATE schedules s SET system_disabled_at = now(), system_disabled_reason = v.reason, updated_at = now()
               FROM unnest(%b::uuid[], %b::text[]) AS v(id, reason)
               WHERE s.id = v.id AND s.system_disabled_at IS NULL""",
            (list(reasons), list(reasons.values())),
        )


@dataclass(frozen=True)
class ScheduleToDeliver:
    """A schedule as a delivery worker needs it: its destination, with the encrypted secret."""
    id: UUID
    organization_id: UUID
    name: str
    timezone: str
    destination_type: str
    destination: dict[str, Any]
    destination_secret: bytes | None
    retry_max_attempts: int
    retry_base_delay_s: float
    retry_max_delay_s: float


def get_schedules_to_deliver(conn: psycopg.Connection, schedule_ids: Sequence[UUID]) -> dict[UUID, ScheduleToDeliver]:
    """Live schedules by id (deleted ones are left out: their deliveries fail)."""
    with conn.cursor(row_factory=class_row(ScheduleToDeliver)) as cur:
        cur.execute(
            """SELECT id, organization_id, name, timezone, destination_type, destination, destination_secret,
                      retry_max_attempts, retry_base_delay_s, retry_max_delay_s
               FROM schedules WHERE id = ANY(%b) AND deleted_at IS NULL""",
            (list(schedule_ids),),
        )
        return {s.id: s for s in cur.fetchall()}


def get_schedules_unscoped(conn: psycopg.Connection, keys: Sequence[tuple[UUID, UUID]]) -> dict[UUID, Schedule]:
    """Live schedules by (organization_id, id), keyed by id (workers, loading many runs' schedules at once)."""
    if not keys:
        return {}
    cols = ", ".join(f"s.{c}" for c in SCHEDULE_COLUMNS.split(", "))
    with conn.cursor(row_factory=class_row(Schedule)) as cur:
        cur.execute(
            f"""SELECT {cols} FROM schedules s JOIN unnest(%b::uuid[], %b::uuid[]) AS k(org, id)
                  ON s.organization_id = k.org AND s.id = k.id
                WHERE s.deleted_at IS NULL""",
            ([k[0] for k in keys], [k[1] for k in keys]),
        )
        return {s.id: s for s in cur.fetchall()}
