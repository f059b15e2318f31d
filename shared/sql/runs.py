"""SQL for runs: manual and test triggers, the worker's claim, and reads for the API."""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from uuid import UUID

import psycopg
from psycopg.rows import class_row


@dataclass(frozen=True)
class Run:
    id: UUID
    organization_id: UUID
    schedule_id: UUID
    scheduled_for: datetime
    trigger: str
    is_test: bool
    status: str
    publish_count: int
    deliveries_total: int
    deliveries_delivered: int
    deliveries_failed: int
    created_at: datetime
    published_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    error: str | None


RUN_COLUMNS = ", ".join(f.name for f in fields(Run))
TERMINAL_STATUSES = ("complete", "error_delivered", "failed", "skipped")


def insert_triggered_run(conn: psycopg.Connection, organization_id: UUID, schedule_id: UUID,
                         *, trigger: str, is_test: bool = False) -> Run:
    """Insert a run due now (manual trigger or test delivery); beat's relay publishes it."""
    with conn.cursor(row_factory=class_row(Run)) as cur:
        # clock_timestamp() differs per statement, so two triggers in one second are two runs.
        cur.execute(
            f"""INSERT INTO runs (organization_id, schedule_id, scheduled_for, trigger, is_test)
                VALUES (%s, %s, clock_timestamp(), %s, %s) RETURNING {RUN_COLUMNS}""",
            (organization_id, schedule_id, trigger, is_test),
        )
        row = cur.fetchone()
    assert row is not None
    return row


def get_run(conn: psycopg.Connection, organization_id: UUID, run_id: UUID) -> Run | None:
    """Return a run of the organization, or None."""
    with conn.cursor(row_factory=class_row(Run)) as cur:
        cur.execute(f"SELECT {RUN_COLUMNS} FROM runs WHERE id = %s AND organization_id = %s",
                    (run_id, organization_id))
        return cur.fetchone()


def list_runs(conn: psycopg.Connection, organization_id: UUID, schedule_id: UUID, *, limit: int,
              before: tuple[datetime, UUID] | None = None) -> list[Run]:
    """Return a schedule's runs, newest slot first, keyset-paged after `before`."""
    keyset = "AND (scheduled_for, id) < (%s, %s)" if before else ""
    params: list[object] = [schedule_id, organization_id, *(before or ()), limit]
    with conn.cursor(row_factory=class_row(Run)) as cur:
        cur.execute(
            f"""SELECT {RUN_COLUMNS} FROM runs WHERE schedule_id = %s AND organization_id = %s {keyset}
                ORDER BY scheduled_for DESC, id DESC LIMIT %s""",
            params,
        )
        return cur.fetchall()


def claim_run(conn: psycopg.Connection, run_id: UUID, reclaim_after_s: float = 600.0) -> Run | None:
    """Mark a pending or published run running; None if it started already (redelivery).

    A run left 'running' but never planned or expanded for reclaim_after_s lost its worker
    mid-execution; it may be claimed again (its deliveries are keyed, so nothing duplicates).
    """
    with conn.cursor(row_factory=class_row(Run)) as cur:
        cur.execute(
            f"""UPDATE runs SET status = 'running', started_at = now()
                WHERE id = %s AND (status IN ('pending', 'published')
                                   OR (status = 'running' AND expanded_at IS NULL AND planned_at IS NULL
                                       AND started_at < now() - make_interval(secs => %s)))
                RETURNING {RUN_COLUMNS}""",
            (run_id, reclaim_after_s),
        )
        return cur.fetchone()


def claim_runs(conn: psycopg.Connection, run_ids: list[UUID], reclaim_after_s: float = 600.0) -> list[Run]:
    """Claim many runs in one statement, as claim_run does one; runs started already are left out."""
    if not run_ids:
        return []
    with conn.cursor(row_factory=class_row(Run)) as cur:
        # Rows are locked in id order and a row another claim holds is skipped (that claim takes it):
        # two overlapping batches (a redelivered message) neither wait on nor deadlock each other.
        cur.execute(
            f"""WITH claimable AS (
                    SELECT id FROM runs
                    WHERE id = ANY(%s) AND (status IN ('pending', 'published')
                                            OR (status = 'running' AND expanded_at IS NULL AND planned_at IS NULL
                                                AND started_at < now() - make_interval(secs => %s)))
                    ORDER BY id FOR UPDATE SKIP LOCKED)
                UPDATE runs SET status = 'running', started_at = now()
                FROM claimable WHERE runs.id = claimable.id
                RETURNING {", ".join("runs." + c for c in RUN_COLUMNS.split(", "))}""",
            (list(run_ids), reclaim_after_s),
        )
        return cur.fetchall()


def get_run_unscoped(conn: psycopg.Connection, run_id: UUID) -> Run | None:
    """Return a run by id alone (workers, which hold ids from our own messages)."""
    with conn.cursor(row_factory=class_row(Run)) as cur:
        cur.execute(f"SELECT {RUN_COLUMNS} FROM runs WHERE id = %s", (run_id,))
        return cur.fetchone()


def count_runs(conn: psycopg.Connection, organization_id: UUID, schedule_id: UUID) -> int:
    """How many runs a schedule of the organization has."""
    row = conn.execute("SELECT count(*) FROM runs WHERE schedule_id = %s AND organization_id = %s",
                       (schedule_id, organization_id)).fetchone()
    assert row is not None
    return int(row[0])
