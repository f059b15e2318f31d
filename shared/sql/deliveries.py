"""SQL for deliveries and their attempts: the ledger of every send, and the delivery outbox."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, fields
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
    recipients: list[str]
    publish_after: datetime | None


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
OPEN_STATUSES = ("pending", "sending", "retrying")


@dataclass(frozen=True)
class NewDelivery:
    recipient_key: str
    user_id: UUID | None
    artifact_id: UUID | None
    recipients: Sequence[str] = field(default_factory=tuple)
    # 'pending' is sent; 'cancelled' (alert condition unmet) and 'failed' (command failed) are
    # recorded already settled, so the ledger says why a subscriber got nothing.
    status: str = "pending"
    error: str | None = None


def insert_deliveries(conn: psycopg.Connection, organization_id: UUID, run_id: UUID, schedule_id: UUID,
                      destination_type: str, max_attempts: int, items: Sequence[NewDelivery],
                      publish_grace_s: float = 600.0) -> list[UUID]:
    """Insert deliveries keyed per run and recipient; return the ids of new pending ones only."""
    if not items:
        return []
    # ON CONFLICT DO NOTHING makes a redelivered run message harmless: existing rows stay.
    # publish_after is when the sweep republishes a pending row whose message got lost.
    rows = conn.execute(
        """INSERT INTO deliveries (organization_id, run_id, schedule_id, destination_type, max_attempts,
                                   recipient_key, user_id, artifact_id, recipients, status, last_error,
                                   publish_after)
           SELECT %s, %s, %s, %s, %s, v.key, v.user_id, v.artifact_id,
                  coalesce(string_to_array(v.recipients, E'\\n'), '{}'), v.status, v.error,
                  CASE WHEN v.status = 'pending' THEN now() + make_interval(secs => %s) END
           FROM unnest(%s::text[], %s::uuid[], %s::uuid[], %s::text[], %s::text[], %s::text[])
                AS v(key, user_id, artifact_id, recipients, status, error)
           ON CONFLICT (run_id, recipient_key) DO NOTHING RETURNING id, status""",
        (organization_id, run_id, schedule_id, destination_type, max_attempts, publish_grace_s,
         [i.recipient_key for i in items], [i.user_id for i in items], [i.artifact_id for i in items],
         ["\n".join(i.recipients) if i.recipients else None for i in items],
         [i.status for i in items], [i.error for i in items]),
    ).fetchall()
    return [r[0] for r in rows if r[1] == "pending"]


def get_org_delivery(conn: psycopg.Connection, organization_id: UUID, delivery_id: UUID,
                     *, for_update: bool = False) -> Delivery | None:
    """Return a delivery of the organization, or None (another org's id is None too)."""
    lock = " FOR UPDATE" if for_update else ""
    with conn.cursor(row_factory=class_row(Delivery)) as cur:
        cur.execute(f"SELECT {DELIVERY_COLUMNS} FROM deliveries WHERE id = %s AND organization_id = %s{lock}",
                    (delivery_id, organization_id))
        return cur.fetchone()


def claim_delivery(conn: psycopg.Connection, delivery_id: UUID, lease_s: float) -> Delivery | None:
    """Start the next attempt if the delivery is due; record it as 'sending'; None if not ours.

    A pending delivery is due at once, a retrying one at next_attempt_at, and a 'sending' one
    only when its lease expired (the worker that held it died mid-send). A duplicate message
    for a delivery another worker is sending therefore does nothing.
    """
    with conn.cursor(row_factory=class_row(Delivery)) as cur:
        cur.execute(
            f"""UPDATE deliveries
                SET status = 'sending', attempts = attempts + 1, updated_at = now(),
                    next_attempt_at = now() + make_interval(secs => %s),
                    publish_after = now() + make_interval(secs => %s)
                WHERE id = %s AND (status = 'pending'
                                   OR (status IN ('retrying', 'sending') AND next_attempt_at <= now()))
                RETURNING {DELIVERY_COLUMNS}""",
            (lease_s, lease_s, delivery_id),
        )
        delivery = cur.fetchone()
    if delivery is not None:
        conn.execute(
            """INSERT INTO delivery_attempts (organization_id, delivery_id, attempt_number)
               VALUES (%s, %s, %s) ON CONFLICT (delivery_id, attempt_number) DO NOTHING""",
            (delivery.organization_id, delivery.id, delivery.attempts),
        )
    return delivery


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
    # A retry is published by the sweep once due: next_attempt_at and publish_after agree.
    conn.execute(
        """UPDATE deliveries SET status = %s, last_error = %s, last_response_code = %s,
               next_attempt_at = %s, publish_after = %s, receipt = coalesce(%s, receipt), updated_at = now(),
               delivered_at = CASE WHEN %s = 'delivered' THEN now() ELSE delivered_at END
           WHERE id = %s""",
        (status, error, response_code, next_attempt_at, next_attempt_at, Jsonb(receipt) if receipt else None,
         status, delivery_id),
    )


def reopen_failed_delivery(conn: psycopg.Connection, organization_id: UUID, delivery_id: UUID,
                           extra_attempts: int) -> None:
    """Make a failed delivery due now with `extra_attempts` more attempts, and its run open again."""
    row = conn.execute(
        """UPDATE deliveries SET status = 'retrying', next_attempt_at = now(), publish_after = now(),
               max_attempts = attempts + %s, updated_at = now()
           WHERE id = %s AND organization_id = %s AND status = 'failed' RETURNING run_id""",
        (extra_attempts, delivery_id, organization_id),
    ).fetchone()
    if row is not None:
        # The run re-derives its status when this delivery settles again.
        conn.execute("UPDATE runs SET status = 'running' WHERE id = %s AND organization_id = %s",
                     (row[0], organization_id))


def claim_due_deliveries(conn: psycopg.Connection, limit: int, grace_s: float) -> list[tuple[str, UUID]]:
    """Lock deliveries whose message is due (retry due, lost, or lease expired); push their next publish.

    Returns (destination type, id) pairs to publish after commit.
    """
    rows = conn.execute(
        """UPDATE deliveries SET publish_after = now() + make_interval(secs => %s)
           WHERE id IN (SELECT id FROM deliveries
                        WHERE publish_after <= now() AND status IN ('pending', 'retrying', 'sending')
                        ORDER BY publish_after LIMIT %s FOR UPDATE SKIP LOCKED)
           RETURNING id, destination_type""",
        (grace_s, limit),
    ).fetchall()
    return [(r[1], r[0]) for r in rows]


def has_open_deliveries(conn: psycopg.Connection, run_id: UUID) -> bool:
    """Return whether any delivery of the run is not settled yet (a partial index makes this cheap)."""
    row = conn.execute(
        """SELECT EXISTS (SELECT 1 FROM deliveries
                          WHERE run_id = %s AND status IN ('pending', 'sending', 'retrying'))""",
        (run_id,),
    ).fetchone()
    return bool(row and row[0])


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
