"""SQL for deliveries and their attempts: the ledger of every send."""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any
from uuid import UUID

import psycopg
from psycopg.rows import class_row
from psycopg.types.json import Jsonb


@dataclass(frozen=True)
class Delivery:
    id: UUID
    organization_id: UUID
    run_id: UUID
    schedule_id: UUID
    recipient_key: str
    user_id: UUID | None
    destination_type: str
    artifact_id: UUID | None
    status: str
    attempts: int
    max_attempts: int
    next_attempt_at: datetime | None
    last_error: str | None
    last_response_code: int | None
    created_at: datetime
    updated_at: datetime
    delivered_at: datetime | None


@dataclass(frozen=True)
class Attempt:
    id: int
    delivery_id: UUID
    attempt_number: int
    started_at: datetime
    duration_ms: int | None
    outcome: str
    error: str | None
    response_code: int | None


DELIVERY_COLUMNS = ", ".join(f.name for f in fields(Delivery))
ATTEMPT_COLUMNS = ", ".join(f.name for f in fields(Attempt))


@dataclass(frozen=True)
class NewDelivery:
    recipient_key: str
    user_id: UUID | None
    artifact_id: UUID | None


def insert_deliveries(conn: psycopg.Connection, organization_id: UUID, run_id: UUID, schedule_id: UUID,
                      destination_type: str, max_attempts: int, items: list[NewDelivery]) -> list[UUID]:
    """Insert deliveries keyed per run and recipient; return the ids of the new ones only."""
    if not items:
        return []
    # ON CONFLICT DO NOTHING makes a redelivered run message harmless: existing rows stay.
    rows = conn.execute(
        """INSERT INTO deliveries (organization_id, run_id, schedule_id, destination_type, max_attempts,
                                   recipient_key, user_id, artifact_id)
           SELECT %s, %s, %s, %s, %s, v.key, v.user_id, v.artifact_id
           FROM unnest(%s::text[], %s::uuid[], %s::uuid[]) AS v(key, user_id, artifact_id)
           ON CONFLICT (run_id, recipient_key) DO NOTHING RETURNING id""",
        (organization_id, run_id, schedule_id, destination_type, max_attempts,
         [i.recipient_key for i in items], [i.user_id for i in items], [i.artifact_id for i in items]),
    ).fetchall()
    return [r[0] for r in rows]


def get_delivery(conn: psycopg.Connection, delivery_id: UUID, *, for_update: bool = False) -> Delivery | None:
    """Return a delivery by id (workers), optionally locked."""
    lock = " FOR UPDATE" if for_update else ""
    with conn.cursor(row_factory=class_row(Delivery)) as cur:
        cur.execute(f"SELECT {DELIVERY_COLUMNS} FROM deliveries WHERE id = %s{lock}", (delivery_id,))
        return cur.fetchone()


def start_attempt(conn: psycopg.Connection, delivery: Delivery) -> int:
    """Record an attempt as 'sending' before acting; return its attempt number."""
    number = delivery.attempts + 1
    conn.execute(
        """INSERT INTO delivery_attempts (organization_id, delivery_id, attempt_number)
           VALUES (%s, %s, %s) ON CONFLICT (delivery_id, attempt_number) DO NOTHING""",
        (delivery.organization_id, delivery.id, number),
    )
    conn.execute(
        "UPDATE deliveries SET status = 'sending', attempts = %s, updated_at = now() WHERE id = %s",
        (number, delivery.id),
    )
    return number


def finish_attempt(conn: psycopg.Connection, delivery_id: UUID, number: int, *, outcome: str,
                   duration_ms: int, error: str | None, response_code: int | None,
                   next_attempt_at: datetime | None = None, receipt: dict[str, Any] | None = None) -> None:
    """Record an attempt's outcome and move the delivery to delivered, retrying or failed."""
    conn.execute(
        """UPDATE delivery_attempts SET outcome = %s, duration_ms = %s, error = %s, response_code = %s
           WHERE delivery_id = %s AND attempt_number = %s""",
        (outcome, duration_ms, error, response_code, delivery_id, number),
    )
    status = {"delivered": "delivered", "retry": "retrying", "failed": "failed"}[outcome]
    conn.execute(
        """UPDATE deliveries SET status = %s, last_error = %s, last_response_code = %s,
               next_attempt_at = %s, receipt = coalesce(%s, receipt), updated_at = now(),
               delivered_at = CASE WHEN %s = 'delivered' THEN now() ELSE delivered_at END
           WHERE id = %s""",
        (status, error, response_code, next_attempt_at, Jsonb(receipt) if receipt else None, status,
         delivery_id),
    )


def list_deliveries(conn: psycopg.Connection, organization_id: UUID, run_id: UUID) -> list[Delivery]:
    """Return a run's deliveries."""
    with conn.cursor(row_factory=class_row(Delivery)) as cur:
        cur.execute(
            f"""SELECT {DELIVERY_COLUMNS} FROM deliveries WHERE run_id = %s AND organization_id = %s
                ORDER BY created_at, id""",
            (run_id, organization_id),
        )
        return cur.fetchall()


def list_attempts(conn: psycopg.Connection, organization_id: UUID, delivery_ids: list[UUID]) -> list[Attempt]:
    """Return the attempts of these deliveries, in order."""
    with conn.cursor(row_factory=class_row(Attempt)) as cur:
        cur.execute(
            f"""SELECT {ATTEMPT_COLUMNS} FROM delivery_attempts
                WHERE delivery_id = ANY(%s) AND organization_id = %s
                ORDER BY delivery_id, attempt_number""",
            (delivery_ids, organization_id),
        )
        return cur.fetchall()


def finish_run_from_deliveries(conn: psycopg.Connection, run_id: UUID) -> str | None:
    """Once no delivery of the run is open, derive the run's status and the schedule's last status.

    Returns the run's final status, or None while deliveries are still open. The run row is
    locked first so that the last two deliveries finishing at once cannot both miss it.
    """
    run = conn.execute("SELECT status FROM runs WHERE id = %s FOR UPDATE", (run_id,)).fetchone()
    if run is None or run[0] != "running":
        return None
    row = conn.execute(
        """SELECT count(*), count(*) FILTER (WHERE status = 'delivered'),
                  count(*) FILTER (WHERE status = 'failed'),
                  count(*) FILTER (WHERE status NOT IN ('delivered', 'failed', 'cancelled'))
           FROM deliveries WHERE run_id = %s""",
        (run_id,),
    ).fetchone()
    assert row is not None
    total, delivered, failed, still_open = row
    if still_open:
        return None
    status = "complete" if failed == 0 else "error_delivered"
    finish_run(conn, run_id, status, total=total, delivered=delivered, failed=failed)
    return status


def finish_run(conn: psycopg.Connection, run_id: UUID, status: str, *, total: int = 0,
               delivered: int = 0, failed: int = 0, error: str | None = None) -> None:
    """Close a run with its status and counters, and update its schedule's last status."""
    row = conn.execute(
        """UPDATE runs SET status = %s, finished_at = now(), deliveries_total = %s,
               deliveries_delivered = %s, deliveries_failed = %s, error = %s
           WHERE id = %s RETURNING schedule_id, is_test""",
        (status, total, delivered, failed, error, run_id),
    ).fetchone()
    if row is None or row[1]:
        return  # a test delivery leaves the schedule's status alone
    failed_run = status in ("failed", "error_delivered")
    conn.execute(
        """UPDATE schedules SET last_status = %s, last_completed_at = now(),
               consecutive_failures = CASE WHEN %s THEN consecutive_failures + 1 ELSE 0 END
           WHERE id = %s""",
        (status, failed_run, row[0]),
    )
