"""SQL for deliveries and their attempts, the only module that writes them: the ledger of every send.

A delivery moves pending -> sending (a worker's claim, with an attempt recorded before the send)
-> delivered | retrying (-> sending again at next_attempt_at) | failed; `cancelled` and `failed`
deliveries may also be inserted settled (the alert condition held the content back; the command
failed for that recipient). Work moves in batches: one statement claims a batch, one transaction
records its outcomes.

`publish_after` is when the sweep publishes a message for the row: a retry's due time, or for a
pending row a safety net in case its message was lost (a flushed broker).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any
from uuid import UUID

import psycopg
from psycopg.rows import class_row
from psycopg.types.json import Jsonb

from shared.sql.heartbeats import holder_is_dead
from shared.statuses import AttemptOutcome, DeliveryStatus


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


@dataclass(frozen=True)
class NewDelivery:
    recipient_key: str
    user_id: UUID | None
    artifact_id: UUID | None
    recipients: Sequence[str] = field(default_factory=tuple)
    # Pending ones are sent; cancelled (alert condition unmet) and failed (command failed) are
    # recorded already settled, so the ledger says why a recipient got nothing.
    status: DeliveryStatus = DeliveryStatus.PENDING
    error: str | None = None


@dataclass(frozen=True)
class Settled:
    """The outcome of one claimed attempt, to record."""
    delivery_id: UUID
    attempt_number: int
    outcome: AttemptOutcome  # delivered, retry or failed
    duration_ms: int
    error: str | None = None
    response_code: int | None = None
    next_attempt_at: datetime | None = None
    receipt: dict[str, Any] | None = None


DELIVERY_COLUMNS = ", ".join(f.name for f in fields(Delivery))
_DELIVERY_COLUMNS_OF_D = ", ".join(f"d.{f.name}" for f in fields(Delivery))
ATTEMPT_COLUMNS = ", ".join(f.name for f in fields(Attempt))
_STATUS_AFTER = {AttemptOutcome.DELIVERED: DeliveryStatus.DELIVERED, AttemptOutcome.RETRY: DeliveryStatus.RETRYING,
                 AttemptOutcome.FAILED: DeliveryStatus.FAILED}
# The one claim predicate for deliveries: to send now, a retry that is due, or one whose worker
# died mid-send. A delivery another live worker is sending is never claimed, however long it takes.
CLAIMABLE = (f"(d.status = '{DeliveryStatus.PENDING}' "
             f"OR (d.status = '{DeliveryStatus.RETRYING}' AND d.next_attempt_at <= now()) "
             f"OR (d.status = '{DeliveryStatus.SENDING}' AND {holder_is_dead('d')}))")


COUNT_SHARDS = 16  # rows per organization and minute in delivery_counts (see its migration)


@dataclass(frozen=True)
class Target:
    """The run a new delivery belongs to, and how it is sent."""
    organization_id: UUID
    run_id: UUID
    schedule_id: UUID
    destination_type: str
    max_attempts: int


def insert_many(conn: psycopg.Connection, items: Sequence[tuple[Target, NewDelivery]],
                republish_after_s: float) -> list[tuple[UUID, str, UUID]]:
    """Insert deliveries (of any runs) in one statement, keyed per run and recipient.

    Returns (run id, destination kind, id) of the new pending ones only: those to publish.
    """
    if not items:
        return []
    # ON CONFLICT DO NOTHING makes a redelivered run message harmless: existing rows stay. The same
    # statement adds what it inserted to the organization's tally of the minute (the deliveries quota).
    rows = conn.execute(
        f"""WITH inserted AS (
                INSERT INTO deliveries (organization_id, run_id, schedule_id, destination_type, max_attempts,
                                        recipient_key, user_id, artifact_id, recipients, status, last_error,
                                        publish_after)
                SELECT v.org, v.run, v.schedule, v.kind, v.max_attempts, v.key, v.user_id, v.artifact_id,
                       coalesce(string_to_array(v.recipients, E'\\n'), '{{}}'), v.status, v.error,
                       CASE WHEN v.status = '{DeliveryStatus.PENDING}' THEN now() + make_interval(secs => %s) END
                FROM unnest(%b::uuid[], %b::uuid[], %b::uuid[], %b::text[], %b::int[], %b::text[], %b::uuid[],
                            %b::uuid[], %b::text[], %b::text[], %b::text[])
                     AS v(org, run, schedule, kind, max_attempts, key, user_id, artifact_id, recipients, status,
                          error)
                ON CONFLICT (run_id, recipient_key) DO NOTHING
                RETURNING organization_id, run_id, destination_type, id, status),
            tallied AS (
                INSERT INTO delivery_counts (organization_id, minute, shard, deliveries)
                SELECT organization_id, date_trunc('minute', now()), pg_backend_pid() %% {COUNT_SHARDS}, count(*)
                FROM inserted GROUP BY organization_id ORDER BY organization_id
                ON CONFLICT (organization_id, minute, shard)
                DO UPDATE SET deliveries = delivery_counts.deliveries + excluded.deliveries)
            SELECT run_id, destination_type, id, status FROM inserted""",
        (republish_after_s,
         [t.organization_id for t, _ in items], [t.run_id for t, _ in items], [t.schedule_id for t, _ in items],
         [t.destination_type for t, _ in items], [t.max_attempts for t, _ in items],
         [i.recipient_key for _, i in items], [i.user_id for _, i in items], [i.artifact_id for _, i in items],
         ["\n".join(i.recipients) if i.recipients else None for _, i in items],
         [str(i.status) for _, i in items], [i.error[:2000] if i.error else None for _, i in items]),
    ).fetchall()
    return [(r[0], r[1], r[2]) for r in rows if r[3] == DeliveryStatus.PENDING]


def forget_counts_before(conn: psycopg.Connection, before: datetime) -> int:
    """Delete the deliveries tallies of minutes before `before` (past every quota window); return how many."""
    return conn.execute("DELETE FROM delivery_counts WHERE minute < %s", (before,)).rowcount


def pending_ids(conn: psycopg.Connection, run_id: UUID) -> list[tuple[str, UUID]]:
    """(kind, id) of a run's pending deliveries: a re-executed run publishes them again."""
    rows = conn.execute(
        f"SELECT destination_type, id FROM deliveries WHERE run_id = %s AND status = '{DeliveryStatus.PENDING}'",
        (run_id,),
    ).fetchall()
    return [(r[0], r[1]) for r in rows]


def claim_deliveries(conn: psycopg.Connection, delivery_ids: Sequence[UUID], worker_id: str,
                     dead_after_s: float) -> list[Delivery]:
    """Start the next attempt of every claimable delivery among these, recorded as sending, in one statement.

    Returns the claimed deliveries (their `attempts` is the number of the attempt now starting);
    ids that are settled, not yet due or held by a live worker are left out, so a duplicate
    message does nothing.
    """
    if not delivery_ids:
        return []
    params = {"ids": list(delivery_ids), "worker": worker_id, "dead_after": dead_after_s}
    with conn.cursor(row_factory=class_row(Delivery)) as cur:
        # One statement: claim (rows locked in id order, skipping rows another claim holds, so
        # overlapping batches never deadlock), close as interrupted the attempt a dead worker left
        # 'sending', and record the attempt now starting.
        cur.execute(
            f"""WITH claimable AS (
                    SELECT d.id, d.status AS was FROM deliveries d WHERE d.id = ANY(%(ids)b) AND {CLAIMABLE}
                    ORDER BY d.id FOR UPDATE SKIP LOCKED),
                claimed AS (
                    UPDATE deliveries d
                    SET status = '{DeliveryStatus.SENDING}', attempts = d.attempts + 1, claimed_by = %(worker)s,
                        updated_at = now(), publish_after = NULL
                    FROM claimable WHERE d.id = claimable.id
                    RETURNING {_DELIVERY_COLUMNS_OF_D}, claimable.was),
                interrupted AS (
                    UPDATE delivery_attempts a SET outcome = '{AttemptOutcome.INTERRUPTED}',
                           error = 'the worker sending it stopped before it finished'
                    FROM claimed c
                    WHERE c.was = '{DeliveryStatus.SENDING}' AND a.delivery_id = c.id
                      AND a.outcome = '{AttemptOutcome.SENDING}'),
                started AS (
                    INSERT INTO delivery_attempts (organization_id, delivery_id, attempt_number)
                    SELECT organization_id, id, attempts FROM claimed
                    ON CONFLICT (delivery_id, attempt_number) DO NOTHING)
                SELECT {DELIVERY_COLUMNS} FROM claimed""",
            params,
        )
        return cur.fetchall()


def record_outcomes(conn: psycopg.Connection, outcomes: Sequence[Settled]) -> None:
    """Record attempts' outcomes and move their deliveries to delivered, retrying or failed, set-based."""
    if not outcomes:
        return
    ids = [o.delivery_id for o in outcomes]
    numbers = [o.attempt_number for o in outcomes]
    kinds = [str(o.outcome) for o in outcomes]
    errors = [o.error[:2000] if o.error else None for o in outcomes]
    codes = [o.response_code for o in outcomes]
    conn.execute(
        """UPDATE delivery_attempts a SET outcome = v.outcome, duration_ms = v.ms, error = v.error,
                  response_code = v.code
           FROM unnest(%b::uuid[], %b::int[], %b::text[], %b::int[], %b::text[], %b::int[])
                AS v(id, n, outcome, ms, error, code)
           WHERE a.delivery_id = v.id AND a.attempt_number = v.n""",
        (ids, numbers, kinds, [o.duration_ms for o in outcomes], errors, codes),
    )
    # A retry is published by the sweep once due: next_attempt_at and publish_after agree. Only
    # the attempt this worker claimed is recorded (attempts = n), never a later one's row.
    conn.execute(
        f"""UPDATE deliveries d SET status = v.status, last_error = v.error, last_response_code = v.code,
                   next_attempt_at = v.next_at, publish_after = v.next_at, claimed_by = NULL,
                   receipt = coalesce(v.receipt, d.receipt), updated_at = now(),
                   delivered_at = CASE WHEN v.status = '{DeliveryStatus.DELIVERED}' THEN now() ELSE d.delivered_at END
            FROM unnest(%b::uuid[], %b::int[], %b::text[], %b::text[], %b::int[], %b::timestamptz[], %b::jsonb[])
                 AS v(id, n, status, error, code, next_at, receipt)
            WHERE d.id = v.id AND d.attempts = v.n AND d.status = '{DeliveryStatus.SENDING}'""",
        (ids, numbers, [str(_STATUS_AFTER[o.outcome]) for o in outcomes], errors, codes,
         [o.next_attempt_at for o in outcomes], [Jsonb(o.receipt) if o.receipt else None for o in outcomes]),
    )


def reopen_failed_delivery(conn: psycopg.Connection, organization_id: UUID, delivery_id: UUID,
                           extra_attempts: int) -> UUID | None:
    """Make a failed delivery due now with `extra_attempts` more attempts; return its run, or None."""
    row = conn.execute(
        f"""UPDATE deliveries SET status = '{DeliveryStatus.RETRYING}', next_attempt_at = now(),
                   publish_after = now(), max_attempts = attempts + %s, updated_at = now()
            WHERE id = %s AND organization_id = %s AND status = '{DeliveryStatus.FAILED}' RETURNING run_id""",
        (extra_attempts, delivery_id, organization_id),
    ).fetchone()
    return row[0] if row else None


def claim_due_for_publish(conn: psycopg.Connection, limit: int, republish_after_s: float,
                          dead_after_s: float) -> list[tuple[str, UUID]]:
    """Rows whose message is due: a retry due, a pending row whose message may be lost, or one whose
    worker died mid-send. Pushes their next publish `republish_after_s` ahead; returns (kind, id) to publish."""
    params = {"limit": limit, "again": republish_after_s, "dead_after": dead_after_s}
    due = conn.execute(
        f"""UPDATE deliveries SET publish_after = now() + make_interval(secs => %(again)s)
            WHERE id IN (SELECT id FROM deliveries
                         WHERE publish_after <= now()
                           AND status IN ('{DeliveryStatus.PENDING}', '{DeliveryStatus.RETRYING}')
                         ORDER BY publish_after LIMIT %(limit)s FOR UPDATE SKIP LOCKED)
            RETURNING destination_type, id""",
        params,
    ).fetchall()
    # A claim clears publish_after; the sweep sets it when it publishes, so a dead worker's row
    # goes out once per republish_after_s, not once per sweep.
    orphaned = conn.execute(
        f"""UPDATE deliveries SET publish_after = now() + make_interval(secs => %(again)s)
            WHERE id IN (SELECT d.id FROM deliveries d
                         WHERE d.status = '{DeliveryStatus.SENDING}' AND {holder_is_dead('d')}
                           AND (d.publish_after IS NULL OR d.publish_after <= now())
                         LIMIT %(limit)s FOR UPDATE SKIP LOCKED)
            RETURNING destination_type, id""",
        params,
    ).fetchall()
    return [(r[0], r[1]) for r in [*due, *orphaned]]


def republish_in_flight(conn: psycopg.Connection) -> int:
    """Make every row whose message is in the broker due for publish now (a worker died, and may have
    reserved it); return how many. A row published twice is claimed once: the copy finds it taken."""
    cur = conn.execute(
        f"""UPDATE deliveries SET publish_after = now()
            WHERE id IN (SELECT id FROM deliveries
                         WHERE status IN ('{DeliveryStatus.PENDING}', '{DeliveryStatus.RETRYING}')
                           AND publish_after > now() AND (next_attempt_at IS NULL OR next_attempt_at <= now())
                         FOR UPDATE SKIP LOCKED)""")  # a row locked now is being claimed
    return cur.rowcount


def last_delivered_sha256(conn: psycopg.Connection, organization_id: UUID, schedule_id: UUID,
                          user_id: UUID | None) -> str | None:
    """Return the sha256 of the newest artifact of the schedule (and subscriber) that was delivered."""
    who = "AND a.user_id = %s" if user_id is not None else "AND a.user_id IS NULL"
    params: list[object] = [schedule_id, organization_id, *([user_id] if user_id is not None else [])]
    row = conn.execute(
        f"""SELECT a.sha256 FROM deliveries d JOIN artifacts a ON a.id = d.artifact_id
            WHERE d.schedule_id = %s AND d.organization_id = %s AND d.status = '{DeliveryStatus.DELIVERED}' {who}
            ORDER BY d.delivered_at DESC LIMIT 1""",
        params,
    ).fetchone()
    return str(row[0]) if row else None


def get_org_delivery(conn: psycopg.Connection, organization_id: UUID, delivery_id: UUID,
                     *, for_update: bool = False) -> Delivery | None:
    """Return a delivery of the organization, or None (another org's id is None too)."""
    lock = " FOR UPDATE" if for_update else ""
    with conn.cursor(row_factory=class_row(Delivery)) as cur:
        cur.execute(f"SELECT {DELIVERY_COLUMNS} FROM deliveries WHERE id = %s AND organization_id = %s{lock}",
                    (delivery_id, organization_id))
        return cur.fetchone()


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
                WHERE delivery_id = ANY(%b) AND organization_id = %s
                ORDER BY delivery_id, attempt_number""",
            (delivery_ids, organization_id),
        )
        return cur.fetchall()
