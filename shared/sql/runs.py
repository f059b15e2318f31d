"""SQL for runs, the only module that writes them: beat's inserts and outbox, the worker's claim, the finish.

A run moves pending -> published (beat's relay) -> running (a worker's claim) -> one of
RUN_TERMINAL (its deliveries settled, or nothing was to be sent). Every status in the SQL comes
from shared.statuses.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any
from uuid import UUID

import psycopg
import psycopg.errors
from psycopg.rows import class_row

from shared.run_policy import DeliveryCounts
from shared.sql.heartbeats import holder_is_dead
from shared.statuses import DELIVERY_OPEN, RUN_UNSTARTED, DeliveryStatus, RunStatus, sql_in


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


@dataclass(frozen=True)
class RunSlot:
    """A run beat is about to insert: one per due slot."""
    organization_id: UUID
    schedule_id: UUID
    scheduled_for: datetime
    trigger: str


@dataclass(frozen=True)
class Closing:
    """A run to finish now, with its status and counters."""
    run_id: UUID
    status: RunStatus
    total: int = 0
    delivered: int = 0
    failed: int = 0
    error: str | None = None


@dataclass(frozen=True)
class Finished:
    """A run that was just finished, as its schedule's bookkeeping needs it."""
    run_id: UUID
    schedule_id: UUID
    status: RunStatus
    delivered: int
    counts_for_schedule: bool  # False for a test delivery or a run finishing again after a manual retry


RUN_COLUMNS = ", ".join(f.name for f in fields(Run))
_RUN_COLUMNS_OF_R = ", ".join(f"r.{f.name}" for f in fields(Run))
# The one claim predicate for runs: never started, or started by a worker that has since died
# while it was still producing the run's content (planned or expanded runs are carried on by
# their chunks and deliveries, which have claims of their own).
CLAIMABLE = (f"(r.status IN ({sql_in(RUN_UNSTARTED)}) OR (r.status = '{RunStatus.RUNNING}' "
             f"AND r.expanded_at IS NULL AND r.planned_at IS NULL AND {holder_is_dead('r')}))")
# A run claimed more often than this killed the workers that produced it: it is failed instead.
MAX_CLAIMS = 3
# How long a claim waits for runs another transaction holds (beat's relay, publishing them) before it skips them.
CLAIM_LOCK_WAIT_S = 5.0


def insert_runs(conn: psycopg.Connection, slots: Sequence[RunSlot]) -> int:
    """Insert one run per slot (a slot that already has a run is left alone); return how many were inserted."""
    if not slots:
        return 0
    cur = conn.execute(
        """INSERT INTO runs (organization_id, schedule_id, scheduled_for, trigger)
           SELECT * FROM unnest(%b::uuid[], %b::uuid[], %b::timestamptz[], %b::text[])
           ON CONFLICT (schedule_id, scheduled_for) DO NOTHING""",
        ([s.organization_id for s in slots], [s.schedule_id for s in slots],
         [s.scheduled_for for s in slots], [s.trigger for s in slots]),
    )
    return cur.rowcount


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


def mark_unpublished_runs(conn: psycopg.Connection, limit: int, republish_after_s: float) -> list[UUID]:
    """Mark up to `limit` runs published and return them: pending ones first, then ones published
    but never started for `republish_after_s`. The caller publishes them before it commits."""
    # One statement locks (SKIP LOCKED: other beats take other runs) and marks; if the broker
    # then fails, the caller's rollback puts the runs back as they were.
    ids = _mark_published(conn, f"""SELECT id FROM runs WHERE status = '{RunStatus.PENDING}'
                                    ORDER BY created_at LIMIT %s FOR UPDATE SKIP LOCKED""", (limit,))
    if len(ids) < limit:
        # A run published but never started (broker flushed, message lost) goes out again;
        # the worker's claim makes a duplicate harmless.
        ids += _mark_published(
            conn, f"""SELECT id FROM runs
                      WHERE status = '{RunStatus.PUBLISHED}' AND published_at < now() - make_interval(secs => %s)
                      ORDER BY published_at LIMIT %s FOR UPDATE SKIP LOCKED""",
            (republish_after_s, limit - len(ids)))
    return ids


def republish_in_flight(conn: psycopg.Connection) -> int:
    """Hand every published, unstarted run back to beat's relay to publish again; return how many."""
    # SKIP LOCKED: a run locked now is being claimed (or published) already, and waiting could deadlock.
    cur = conn.execute(f"""UPDATE runs SET status = '{RunStatus.PENDING}'
                           WHERE id IN (SELECT id FROM runs WHERE status = '{RunStatus.PUBLISHED}'
                                        FOR UPDATE SKIP LOCKED)""")
    return cur.rowcount


def _mark_published(conn: psycopg.Connection, select_ids: str, params: tuple[object, ...]) -> list[UUID]:
    rows = conn.execute(
        f"""UPDATE runs SET status = '{RunStatus.PUBLISHED}', published_at = clock_timestamp(),
                            publish_count = publish_count + 1
            WHERE id IN ({select_ids}) RETURNING id""",  # type: ignore[arg-type]
        params, binary=True,
    ).fetchall()
    return [r[0] for r in rows]


def claim_runs(conn: psycopg.Connection, run_ids: Sequence[UUID], worker_id: str,
               dead_after_s: float) -> tuple[list[Run], set[UUID], set[UUID]]:
    """Mark claimable runs running by this worker in one statement; runs not claimable are left out.

    Returns the claimed runs, the ids of those taken over from a dead worker (their deliveries
    may exist already, unpublished), and the ids of those claimed more than MAX_CLAIMS times.
    """
    if not run_ids:
        return [], set(), set()
    # Waits for rows another transaction holds, in id order (two overlapping batches, a redelivered
    # message, cannot deadlock): beat's relay publishes before it commits, so a worker fast enough
    # gets the message while the rows are still locked, and skipping them would leave them published
    # with no message until the relay's republish interval (minutes). The wait is bounded: past it
    # the claim takes what is free, and the rest is taken by the holder or republished.
    try:
        with conn.transaction():  # a savepoint: a lock timeout undoes only this attempt
            conn.execute(f"SET LOCAL lock_timeout = {int(CLAIM_LOCK_WAIT_S * 1000)}")
            rows = _claim_runs(conn, run_ids, worker_id, dead_after_s, "")
            conn.execute("SET LOCAL lock_timeout TO DEFAULT")
    except psycopg.errors.LockNotAvailable:
        rows = _claim_runs(conn, run_ids, worker_id, dead_after_s, " SKIP LOCKED")
    return ([Run(*row[2:]) for row in rows], {row[2] for row in rows if row[0]},
            {row[2] for row in rows if row[1]})


def _claim_runs(conn: psycopg.Connection, run_ids: Sequence[UUID], worker_id: str, dead_after_s: float,
                skip: str) -> list[tuple[Any, ...]]:
    with conn.cursor() as cur:
        cur.execute(
            f"""WITH claimable AS (
                    SELECT r.id, r.status = '{RunStatus.RUNNING}' AS retaken FROM runs r
                    WHERE r.id = ANY(%(ids)b) AND {CLAIMABLE}
                    ORDER BY r.id FOR UPDATE{skip})
                UPDATE runs r SET status = '{RunStatus.RUNNING}', started_at = now(), claimed_by = %(worker)s,
                                  claims = r.claims + 1
                FROM claimable WHERE r.id = claimable.id
                RETURNING claimable.retaken, r.claims > {MAX_CLAIMS}, {_RUN_COLUMNS_OF_R}""",
            {"ids": list(run_ids), "worker": worker_id, "dead_after": dead_after_s},
        )
        return cur.fetchall()


def release_runs(conn: psycopg.Connection, run_ids: Sequence[UUID], worker_id: str) -> None:
    """Hand back runs this worker claimed but could not carry out (before planning or expanding them)."""
    # A clean hand-back does not count as a claim that killed its worker.
    conn.execute(
        f"""UPDATE runs SET status = '{RunStatus.PUBLISHED}', claimed_by = NULL, claims = claims - 1
            WHERE id = ANY(%b) AND claimed_by = %s AND status = '{RunStatus.RUNNING}'
              AND expanded_at IS NULL AND planned_at IS NULL""",
        (list(run_ids), worker_id))


def mark_planned(conn: psycopg.Connection, run_id: UUID, chunks_total: int) -> None:
    """Record that a per_subscriber run's chunks exist (a re-claim must not plan them again)."""
    conn.execute("UPDATE runs SET planned_at = now(), chunks_total = %s WHERE id = %s", (chunks_total, run_id))


def mark_expanded(conn: psycopg.Connection, run_ids: Sequence[UUID]) -> None:
    """Record that every delivery of these runs exists, so each may finish when its deliveries settle."""
    # Only while running: a run handed back meanwhile (release_runs, by an executor that lost the database)
    # stays claimable and is carried out again, its deliveries found by their keys. Marking it expanded
    # would leave it published with nothing to finish it.
    if run_ids:
        conn.execute(f"""UPDATE runs SET expanded_at = coalesce(expanded_at, now())
                         WHERE id = ANY(%b) AND status = '{RunStatus.RUNNING}'""", (list(run_ids),))


def lock_finishable(conn: psycopg.Connection, run_ids: Sequence[UUID]) -> dict[UUID, DeliveryCounts]:
    """Lock, in id order, the running and expanded runs among these that have no open delivery; return
    each one's deliveries counted by how they settled."""
    # The lock serialises two batches settling a run's last deliveries at once: the second waits,
    # then finds the run finished (its status re-checked on the new row version) and skips it.
    rows = conn.execute(
        f"""SELECT r.id, c.total, c.delivered, c.failed, c.cancelled, c.never_sent FROM runs r
            CROSS JOIN LATERAL (
                SELECT count(*) AS total, count(*) FILTER (WHERE d.status = '{DeliveryStatus.DELIVERED}') AS delivered,
                       count(*) FILTER (WHERE d.status = '{DeliveryStatus.FAILED}') AS failed,
                       count(*) FILTER (WHERE d.status = '{DeliveryStatus.CANCELLED}') AS cancelled,
                       count(*) FILTER (WHERE d.status = '{DeliveryStatus.FAILED}' AND d.attempts = 0) AS never_sent
                FROM deliveries d WHERE d.run_id = r.id) AS c
            WHERE r.id = ANY(%b) AND r.status = '{RunStatus.RUNNING}' AND r.expanded_at IS NOT NULL
              AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.run_id = r.id
                              AND d.status IN ({sql_in(DELIVERY_OPEN)}))
            ORDER BY r.id FOR NO KEY UPDATE OF r""",
        (list(run_ids),),
    ).fetchall()
    return {r[0]: DeliveryCounts(*r[1:]) for r in rows}


def finish_runs(conn: psycopg.Connection, closings: Sequence[Closing]) -> list[Finished]:
    """Close runs with their status and counters in one statement; return them for their schedules."""
    if not closings:
        return []
    rows = conn.execute(
        """WITH v AS (SELECT * FROM unnest(%b::uuid[], %b::text[], %b::int[], %b::int[], %b::int[], %b::text[])
                      AS v(id, status, total, delivered, failed, error)),
                before AS (SELECT r.id, r.finished_at FROM runs r JOIN v ON v.id = r.id)
           UPDATE runs r SET status = v.status, finished_at = now(), deliveries_total = v.total,
                  deliveries_delivered = v.delivered, deliveries_failed = v.failed,
                  error = coalesce(v.error, r.error), expanded_at = coalesce(r.expanded_at, now())
           FROM v JOIN before b ON b.id = v.id
           WHERE r.id = v.id
           RETURNING r.id, r.schedule_id, r.status, r.deliveries_delivered, NOT r.is_test AND b.finished_at IS NULL""",
        ([c.run_id for c in closings], [str(c.status) for c in closings], [c.total for c in closings],
         [c.delivered for c in closings], [c.failed for c in closings],
         [c.error[:2000] if c.error else None for c in closings]),
    ).fetchall()
    return [Finished(r[0], r[1], RunStatus(r[2]), r[3], bool(r[4])) for r in rows]


def reopen_run(conn: psycopg.Connection, organization_id: UUID, run_id: UUID) -> None:
    """Make a finished run running again (a delivery of it was retried by hand); it re-derives its status."""
    conn.execute(f"UPDATE runs SET status = '{RunStatus.RUNNING}' WHERE id = %s AND organization_id = %s",
                 (run_id, organization_id))


def runs_held_by_dead_workers(conn: psycopg.Connection, dead_after_s: float, limit: int) -> list[UUID]:
    """Running runs whose worker died before it planned or expanded them (to publish again)."""
    rows = conn.execute(
        f"""SELECT r.id FROM runs r
            WHERE r.status = '{RunStatus.RUNNING}' AND r.expanded_at IS NULL AND r.planned_at IS NULL
              AND {holder_is_dead('r')}
            ORDER BY r.started_at LIMIT %(limit)s""",
        {"dead_after": dead_after_s, "limit": limit},
    ).fetchall()
    return [r[0] for r in rows]


def runs_left_open(conn: psycopg.Connection, quiet_for_s: float, limit: int) -> list[UUID]:
    """Expanded runs still running with no open delivery for a while: their finisher died between steps."""
    rows = conn.execute(
        f"""SELECT r.id FROM runs r
            WHERE r.status = '{RunStatus.RUNNING}' AND r.expanded_at < now() - make_interval(secs => %s)
              AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.run_id = r.id
                              AND d.status IN ({sql_in(DELIVERY_OPEN)}))
            LIMIT %s""",
        (quiet_for_s, limit),
    ).fetchall()
    return [r[0] for r in rows]


def get_run(conn: psycopg.Connection, organization_id: UUID, run_id: UUID) -> Run | None:
    """Return a run of the organization, or None."""
    with conn.cursor(row_factory=class_row(Run)) as cur:
        cur.execute(f"SELECT {RUN_COLUMNS} FROM runs WHERE id = %s AND organization_id = %s",
                    (run_id, organization_id))
        return cur.fetchone()


def get_runs_unscoped(conn: psycopg.Connection, run_ids: Sequence[UUID]) -> list[Run]:
    """Return runs by id alone (workers, which hold ids from our own messages)."""
    with conn.cursor(row_factory=class_row(Run)) as cur:
        cur.execute(f"SELECT {RUN_COLUMNS} FROM runs WHERE id = ANY(%b)", (list(run_ids),))
        return cur.fetchall()


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


def count_runs(conn: psycopg.Connection, organization_id: UUID, schedule_id: UUID) -> int:
    """How many runs a schedule of the organization has."""
    row = conn.execute("SELECT count(*) FROM runs WHERE schedule_id = %s AND organization_id = %s",
                       (schedule_id, organization_id)).fetchone()
    assert row is not None
    return int(row[0])


def oldest_pending_created_at(conn: psycopg.Connection) -> datetime | None:
    """When the oldest run still waiting for the broker was inserted (beat's heartbeat, health)."""
    row = conn.execute(f"SELECT min(created_at) FROM runs WHERE status = '{RunStatus.PENDING}'").fetchone()
    return row[0] if row else None
