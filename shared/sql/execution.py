"""SQL the workers need to execute a run: its command, subscribers, chunks, and how it finishes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

import psycopg
from psycopg.rows import class_row


@dataclass(frozen=True)
class CommandRow:
    id: UUID
    kind: str
    config: dict[str, Any]
    config_secret: bytes | None


@dataclass(frozen=True)
class Subscriber:
    id: UUID
    email: str
    name: str | None
    timezone: str
    attributes: dict[str, Any]


_SUBSCRIBER_COLUMNS = "u.id, u.email, u.name, u.timezone, u.attributes"


def get_command(conn: psycopg.Connection, organization_id: UUID, command_id: UUID) -> CommandRow | None:
    """Return a live command of the organization, or None."""
    with conn.cursor(row_factory=class_row(CommandRow)) as cur:
        cur.execute(
            """SELECT id, kind, config, config_secret FROM commands
               WHERE id = %s AND organization_id = %s AND deleted_at IS NULL""",
            (command_id, organization_id),
        )
        return cur.fetchone()


def list_subscribers_page(conn: psycopg.Connection, organization_id: UUID, schedule_id: UUID,
                          *, after: UUID | None, limit: int) -> list[Subscriber]:
    """Return up to `limit` subscribers of a schedule with their users, keyset-paged by user id."""
    keyset = "AND s.user_id > %s" if after is not None else ""
    params: list[object] = [schedule_id, organization_id, *([after] if after is not None else []), limit]
    with conn.cursor(row_factory=class_row(Subscriber)) as cur:
        cur.execute(
            f"""SELECT {_SUBSCRIBER_COLUMNS} FROM schedule_subscribers s
                JOIN users u ON u.id = s.user_id AND u.organization_id = s.organization_id
                WHERE s.schedule_id = %s AND s.organization_id = %s {keyset}
                ORDER BY s.user_id LIMIT %s""",
            params,
        )
        return cur.fetchall()


def get_subscribers(conn: psycopg.Connection, organization_id: UUID, user_ids: list[UUID]) -> list[Subscriber]:
    """Return these users of the organization, ordered by id (missing ones are left out)."""
    with conn.cursor(row_factory=class_row(Subscriber)) as cur:
        cur.execute(
            f"""SELECT {_SUBSCRIBER_COLUMNS} FROM users u
                WHERE u.organization_id = %s AND u.id = ANY(%s) ORDER BY u.id""",
            (organization_id, user_ids),
        )
        return cur.fetchall()


def has_subscribers(conn: psycopg.Connection, organization_id: UUID, schedule_id: UUID) -> bool:
    """Return whether the schedule has at least one subscriber."""
    row = conn.execute(
        "SELECT EXISTS (SELECT 1 FROM schedule_subscribers WHERE schedule_id = %s AND organization_id = %s)",
        (schedule_id, organization_id),
    ).fetchone()
    return bool(row and row[0])


def last_delivered_sha256(conn: psycopg.Connection, organization_id: UUID, schedule_id: UUID,
                          user_id: UUID | None) -> str | None:
    """Return the sha256 of the newest artifact of the schedule (and subscriber) that was delivered."""
    who = "AND a.user_id = %s" if user_id is not None else "AND a.user_id IS NULL"
    params: list[object] = [schedule_id, organization_id, *([user_id] if user_id is not None else [])]
    row = conn.execute(
        f"""SELECT a.sha256 FROM deliveries d JOIN artifacts a ON a.id = d.artifact_id
            WHERE d.schedule_id = %s AND d.organization_id = %s AND d.status = 'delivered' {who}
            ORDER BY d.delivered_at DESC LIMIT 1""",
        params,
    ).fetchone()
    return str(row[0]) if row else None


def mark_run_planned(conn: psycopg.Connection, run_id: UUID, chunks_total: int) -> None:
    """Record that a per_subscriber run's chunks exist (a re-claim must not plan them again)."""
    conn.execute("UPDATE runs SET planned_at = now(), chunks_total = %s WHERE id = %s", (chunks_total, run_id))


def mark_run_expanded(conn: psycopg.Connection, run_id: UUID) -> None:
    """Record that every delivery of the run exists, so it may finish when they settle."""
    conn.execute("UPDATE runs SET expanded_at = coalesce(expanded_at, now()) WHERE id = %s", (run_id,))


def insert_chunks(conn: psycopg.Connection, organization_id: UUID, run_id: UUID, first_no: int,
                  chunks: list[list[UUID]], publish_grace_s: float) -> list[int]:
    """Insert chunks of subscriber ids numbered from first_no; return the numbers inserted."""
    if not chunks:
        return []
    numbers = list(range(first_no, first_no + len(chunks)))
    # A uuid[][] must be rectangular, so each chunk travels as one text and is split back.
    rows = conn.execute(
        """INSERT INTO run_chunks (run_id, chunk_no, organization_id, user_ids, publish_after)
           SELECT %s, v.no, %s, string_to_array(v.ids, ',')::uuid[], now() + make_interval(secs => %s)
           FROM unnest(%s::int[], %s::text[]) AS v(no, ids)
           ON CONFLICT (run_id, chunk_no) DO NOTHING RETURNING chunk_no""",
        (run_id, organization_id, publish_grace_s, numbers, [",".join(str(u) for u in c) for c in chunks]),
    ).fetchall()
    return [r[0] for r in rows]


def get_open_chunk(conn: psycopg.Connection, run_id: UUID, chunk_no: int) -> list[UUID] | None:
    """Return the user ids of a chunk not done yet, or None if it is done or unknown."""
    row = conn.execute(
        "SELECT user_ids FROM run_chunks WHERE run_id = %s AND chunk_no = %s AND done_at IS NULL",
        (run_id, chunk_no),
    ).fetchone()
    return list(row[0]) if row else None


def finish_chunk(conn: psycopg.Connection, run_id: UUID, chunk_no: int) -> int:
    """Mark a chunk done; return how many chunks of the run remain open (locks the run row)."""
    # Locking the run serialises the last chunks finishing at once: exactly one sees 0. NO KEY
    # UPDATE, because the chunk's inserts hold KEY SHARE on the run (foreign keys); FOR UPDATE
    # would make two chunks deadlock on each other.
    conn.execute("SELECT 1 FROM runs WHERE id = %s FOR NO KEY UPDATE", (run_id,))
    conn.execute("UPDATE run_chunks SET done_at = now(), publish_after = NULL WHERE run_id = %s AND chunk_no = %s",
                 (run_id, chunk_no))
    row = conn.execute("SELECT count(*) FROM run_chunks WHERE run_id = %s AND done_at IS NULL",
                       (run_id,)).fetchone()
    return int(row[0]) if row else 0


def claim_due_chunks(conn: psycopg.Connection, limit: int, grace_s: float) -> list[tuple[UUID, int]]:
    """Lock chunks whose message is overdue (lost, or its worker died); push their next publish."""
    rows = conn.execute(
        """UPDATE run_chunks SET publish_after = now() + make_interval(secs => %s)
           WHERE (run_id, chunk_no) IN (SELECT run_id, chunk_no FROM run_chunks
                                        WHERE done_at IS NULL AND publish_after <= now()
                                        ORDER BY publish_after LIMIT %s FOR UPDATE SKIP LOCKED)
           RETURNING run_id, chunk_no""",
        (grace_s, limit),
    ).fetchall()
    return [(r[0], r[1]) for r in rows]


def claim_stalled_runs(conn: psycopg.Connection, lease_s: float, limit: int) -> list[UUID]:
    """Return runs whose executing worker died before planning or expanding them (to publish again)."""
    rows = conn.execute(
        """SELECT id FROM runs
           WHERE status = 'running' AND expanded_at IS NULL AND planned_at IS NULL
             AND started_at < now() - make_interval(secs => %s)
           ORDER BY started_at LIMIT %s FOR UPDATE SKIP LOCKED""",
        (lease_s, limit),
    ).fetchall()
    return [r[0] for r in rows]


@dataclass(frozen=True)
class RunOutcome:
    status: str
    total: int
    delivered: int
    failed: int


def derive_run_outcome(total: int, delivered: int, failed: int, cancelled: int, never_sent: int) -> RunOutcome:
    """Derive a finished run's status from its settled deliveries (pure)."""
    if total > 0 and cancelled == total:
        status = "skipped"  # the alert condition held back every recipient's content
    elif failed == 0:
        status = "complete"
    elif delivered == 0 and never_sent == failed:
        status = "failed"  # every failure is a command failure: nothing was even attempted
    else:
        status = "error_delivered"
    return RunOutcome(status, total, delivered, failed)


def finish_run_from_deliveries(conn: psycopg.Connection, run_id: UUID, disable_after: int) -> str | None:
    """Once the run is expanded and no delivery is open, finish it; return its status or None.

    The run row is locked first so that the last two deliveries finishing at once cannot both miss it.
    """
    run = conn.execute("SELECT status, expanded_at FROM runs WHERE id = %s FOR NO KEY UPDATE", (run_id,)).fetchone()
    if run is None or run[0] != "running" or run[1] is None:
        return None
    row = conn.execute(
        """SELECT count(*), count(*) FILTER (WHERE status = 'delivered'),
                  count(*) FILTER (WHERE status = 'failed'),
                  count(*) FILTER (WHERE status = 'cancelled'),
                  count(*) FILTER (WHERE status = 'failed' AND attempts = 0),
                  count(*) FILTER (WHERE status IN ('pending', 'sending', 'retrying'))
           FROM deliveries WHERE run_id = %s""",
        (run_id,),
    ).fetchone()
    assert row is not None
    total, delivered, failed, cancelled, never_sent, still_open = row
    if still_open:
        return None
    outcome = derive_run_outcome(total, delivered, failed, cancelled, never_sent)
    finish_run(conn, run_id, outcome.status, disable_after=disable_after, total=total,
               delivered=delivered, failed=failed)
    return outcome.status


def finish_run(conn: psycopg.Connection, run_id: UUID, status: str, *, disable_after: int, total: int = 0,
               delivered: int = 0, failed: int = 0, error: str | None = None) -> None:
    """Close a run with its status and counters; update its schedule, disabling it after N failed runs."""
    before = conn.execute("SELECT finished_at FROM runs WHERE id = %s", (run_id,)).fetchone()
    row = conn.execute(
        """UPDATE runs SET status = %s, finished_at = now(), deliveries_total = %s,
               deliveries_delivered = %s, deliveries_failed = %s, error = coalesce(%s, error),
               expanded_at = coalesce(expanded_at, now())
           WHERE id = %s RETURNING schedule_id, is_test""",
        (status, total, delivered, failed, error, run_id),
    ).fetchone()
    if row is None or row[1] or (before is not None and before[0] is not None):
        return  # a test delivery, or a run finishing again after a manual retry, leaves the schedule alone
    # A run counts as failed when nothing reached anyone; one bounced address out of many does not.
    failed_run = status == "failed" or (status == "error_delivered" and delivered == 0)
    conn.execute(
        """UPDATE schedules SET last_status = %s, last_completed_at = now(),
               consecutive_failures = CASE WHEN %s THEN consecutive_failures + 1 ELSE 0 END,
               system_disabled_at = CASE WHEN %s AND consecutive_failures + 1 >= %s AND system_disabled_at IS NULL
                                         THEN now() ELSE system_disabled_at END,
               system_disabled_reason = CASE WHEN %s AND consecutive_failures + 1 >= %s
                                              AND system_disabled_at IS NULL
                                         THEN %s ELSE system_disabled_reason END
           WHERE id = %s""",
        (status, failed_run, failed_run, disable_after, failed_run, disable_after,
         f"disabled after {disable_after} consecutive failed runs", row[0]),
    )


def disable_schedule(conn: psycopg.Connection, schedule_id: UUID, reason: str) -> None:
    """System-disable a schedule (e.g. its webhook answered 410 Gone); re-enabling is explicit."""
    conn.execute(
        """UPDATE schedules SET system_disabled_at = now(), system_disabled_reason = %s, updated_at = now()
           WHERE id = %s AND system_disabled_at IS NULL""",
        (reason, schedule_id),
    )
