"""SQL for sends: the hidden one-shot schedule that carries out a scheduled message or a campaign.

Beat fires it like any schedule and workers run it like any run; nothing there knows the owner.
Its state is derived here from the schedule and its run (STATUS_SQL), never stored twice:
scheduled (not fired), sending (fired, run not finished), sent / failed (run finished), cancelled.
Editing and cancelling lock the schedule row first: beat claims with FOR UPDATE SKIP LOCKED, so
either beat fired it before (and the lock sees its run) or beat skips it until the edit commits.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import psycopg
from psycopg.rows import class_row
from psycopg.types.json import Jsonb

from shared.errors import StateConflict
from shared.sends import Content, Target, channel_of
from shared.statuses import RUN_UNSTARTED, RunStatus, SendStatus, sql_in

# The send's run: a one-shot has at most one (its slot's), never a test one.
RUN_JOIN = """LEFT JOIN LATERAL (
        SELECT rr.id, rr.status, rr.published_at, rr.finished_at, rr.deliveries_total, rr.deliveries_delivered,
               rr.deliveries_failed
        FROM runs rr WHERE rr.schedule_id = s.id AND NOT rr.is_test ORDER BY rr.scheduled_for DESC LIMIT 1) r ON true"""
# The send's state from its schedule `s` and run `r` (RUN_JOIN), in the words of SendStatus.
STATUS_SQL = f"""(CASE
        WHEN s.cancelled_at IS NOT NULL THEN '{SendStatus.CANCELLED}'
        WHEN r.id IS NULL THEN '{SendStatus.SCHEDULED}'
        WHEN r.status IN ({sql_in([*RUN_UNSTARTED, RunStatus.RUNNING])}) THEN '{SendStatus.SENDING}'
        WHEN r.status IN ({sql_in([RunStatus.COMPLETE, RunStatus.ERROR_DELIVERED])}) THEN '{SendStatus.SENT}'
        ELSE '{SendStatus.FAILED}' END)"""
STATE_COLUMNS = f"""s.id AS schedule_id, s.organization_id, s.owner, s.name, {STATUS_SQL} AS status, s.execute_at,
    s.send_content AS content, s.send_target AS target, s.created_by_user_id, s.created_at, s.updated_at,
    s.cancelled_at, r.id AS run_id, r.published_at, r.finished_at AS sent_at,
    coalesce(r.deliveries_total, 0) AS deliveries_total, coalesce(r.deliveries_delivered, 0) AS deliveries_delivered,
    coalesce(r.deliveries_failed, 0) AS deliveries_failed"""


@dataclass(frozen=True)
class SendState:
    """A send as its owner shows it: the state, when it was published (beat) and sent (its run finished)."""
    schedule_id: UUID
    organization_id: UUID
    owner: str
    name: str
    status: str
    execute_at: datetime
    content: dict[str, Any]
    target: dict[str, Any]
    created_by_user_id: UUID | None
    created_at: datetime
    updated_at: datetime
    cancelled_at: datetime | None
    run_id: UUID | None
    published_at: datetime | None
    sent_at: datetime | None
    deliveries_total: int
    deliveries_delivered: int
    deliveries_failed: int


def _destination(name: str, content: Content) -> Jsonb:
    # Email sends the text as the message itself (inline), under the content's subject or the send's name.
    return Jsonb({"inline": True, "subject_text": content.subject or name})


def insert_send(conn: psycopg.Connection, organization_id: UUID, *, owner: str, name: str, content: Content,
                target: Target, execute_at: datetime, created_by: UUID | None) -> UUID:
    """Insert the hidden one-shot schedule of a send and return its id (the caller checked every reference and
    wakes beat)."""
    row = conn.execute(
        """INSERT INTO schedules (organization_id, owner, name, kind, execute_at, next_run_at, timezone,
                                  run_mode, fan_out, destination_type, destination, format, misfire_policy,
                                  send_content, send_target, created_by_user_id)
           VALUES (%s, %s, %s, 'one_shot', %s, %s, 'UTC', 'once_distribute', true, 'email', %s, 'text', 'run_once',
                   %s, %s, %s)
           RETURNING id""",
        (organization_id, owner, name[:255], execute_at, execute_at, _destination(name, content),
         Jsonb(content.as_json()), Jsonb(target.as_json()), created_by),
    ).fetchone()
    assert row is not None
    return UUID(str(row[0]))


def get_send_state(conn: psycopg.Connection, organization_id: UUID, schedule_id: UUID,
                   owner: str | None = None) -> SendState | None:
    """The state of a send of the organization (of that owner, if given), or None."""
    states = get_send_states(conn, organization_id, [schedule_id], owner)
    return states.get(schedule_id)


def get_send_states(conn: psycopg.Connection, organization_id: UUID, schedule_ids: list[UUID],
                    owner: str | None = None) -> dict[UUID, SendState]:
    """The states of sends of the organization by schedule id (one statement, for listings)."""
    by_owner = "AND s.owner = %s" if owner else "AND s.owner IS NOT NULL"
    with conn.cursor(row_factory=class_row(SendState)) as cur:
        cur.execute(
            f"""SELECT {STATE_COLUMNS} FROM schedules s {RUN_JOIN}
                WHERE s.organization_id = %s AND s.id = ANY(%s) AND s.deleted_at IS NULL {by_owner}""",
            (organization_id, schedule_ids, *([owner] if owner else [])),
        )
        return {state.schedule_id: state for state in cur.fetchall()}


def lock_send(conn: psycopg.Connection, organization_id: UUID, schedule_id: UUID, owner: str) -> SendState | None:
    """Lock a send's schedule row (FOR UPDATE: beat cannot fire it until the caller's commit) and return its
    state, or None if the organization has no such send."""
    row = conn.execute(
        """SELECT id FROM schedules WHERE id = %s AND organization_id = %s AND owner = %s AND deleted_at IS NULL
           FOR UPDATE""",
        (schedule_id, organization_id, owner),
    ).fetchone()
    return get_send_state(conn, organization_id, schedule_id, owner) if row else None


def refuse_unless_scheduled(state: SendState, label: str, verb: str) -> None:
    """Raise StateConflict ('<label> is <state>; cannot <verb>') unless the send is still scheduled."""
    if state.status != SendStatus.SCHEDULED:
        raise StateConflict(f"{label} is {state.status}; cannot {verb}", state.status)


def replace_send(conn: psycopg.Connection, state: SendState, *, name: str, content: Content, target: Target,
                 execute_at: datetime, label: str = "Send") -> SendState:
    """Give a locked (lock_send) send new content, target and slot; raises StateConflict ('<label> is sent; cannot
    edit') unless it is still scheduled."""
    refuse_unless_scheduled(state, label, "edit")
    conn.execute(
        """UPDATE schedules SET name = %s, execute_at = %s, next_run_at = %s, destination = %s, send_content = %s,
                                send_target = %s, updated_at = now()
           WHERE id = %s AND organization_id = %s""",
        (name[:255], execute_at, execute_at, _destination(name, content), Jsonb(content.as_json()),
         Jsonb(target.as_json()), state.schedule_id, state.organization_id),
    )
    fresh = get_send_state(conn, state.organization_id, state.schedule_id)
    assert fresh is not None
    return fresh


def cancel_send(conn: psycopg.Connection, state: SendState, *, label: str = "Send") -> SendState:
    """Cancel a locked (lock_send) send before its slot: it never fires; raises StateConflict ('<label> is sending;
    cannot cancel') unless it is still scheduled."""
    refuse_unless_scheduled(state, label, "cancel")
    conn.execute(
        """UPDATE schedules SET cancelled_at = now(), next_run_at = NULL, updated_at = now()
           WHERE id = %s AND organization_id = %s""",
        (state.schedule_id, state.organization_id),
    )
    fresh = get_send_state(conn, state.organization_id, state.schedule_id)
    assert fresh is not None
    return fresh


# --- Workers: a send's recipients, resolved when its run executes ---------------------------------

@dataclass(frozen=True)
class SendRecipient:
    """One recipient of a send: the delivery's key, the user (if one), the address and its channel."""
    key: str
    user_id: UUID | None
    address: str
    channel: str


# Users named by id and members of the list, by their address now; addresses as given. Users by id or in a
# list are keyed by id (as subscribers are), addresses by themselves: a re-executed run finds the same keys.
_RECIPIENTS = """
    WITH t AS (SELECT send_target AS target FROM schedules WHERE id = %(schedule)s AND organization_id = %(org)s)
    SELECT key, user_id, address FROM (
        SELECT u.id::text AS key, u.id AS user_id, u.email AS address
        FROM t, users u
        WHERE t.target ? 'user_ids' AND u.organization_id = %(org)s
          AND u.id IN (SELECT jsonb_array_elements_text(t.target -> 'user_ids')::uuid)
        UNION ALL
        SELECT u.id::text, u.id, u.email
        FROM t JOIN contact_lists l ON l.id = (t.target ->> 'list_id')::uuid
        JOIN contact_list_members m ON m.contact_list_id = l.id
        JOIN users u ON u.id = m.user_id AND u.organization_id = l.organization_id
        WHERE l.organization_id = %(org)s AND l.deleted_at IS NULL
        UNION ALL
        SELECT 'to:' || lower(a), NULL, a FROM t, jsonb_array_elements_text(coalesce(t.target -> 'to', '[]')) a
    ) x"""


def list_send_recipients(conn: psycopg.Connection, organization_id: UUID, schedule_id: UUID, *,
                         after: str | None, limit: int) -> list[SendRecipient]:
    """A keyset page of a send's recipients, ordered by key."""
    rows = conn.execute(
        f"{_RECIPIENTS} WHERE %(after)s::text IS NULL OR key > %(after)s ORDER BY key LIMIT %(limit)s",
        {"schedule": schedule_id, "org": organization_id, "after": after, "limit": limit},
    ).fetchall()
    return [SendRecipient(r[0], r[1], r[2], channel_of(r[2])) for r in rows]


def count_send_recipients(conn: psycopg.Connection, organization_id: UUID, schedule_id: UUID) -> int:
    """How many recipients a send has now."""
    row = conn.execute(f"SELECT count(*) FROM ({_RECIPIENTS}) c",
                       {"schedule": schedule_id, "org": organization_id}).fetchone()
    assert row is not None
    return int(row[0])
