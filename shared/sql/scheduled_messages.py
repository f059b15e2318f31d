"""SQL for scheduled messages: the caller's record (its local_id, its sender) of a send (shared/sql/sends.py)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import psycopg
from psycopg.rows import class_row

from shared.sql.sends import RUN_JOIN, STATUS_SQL


@dataclass(frozen=True)
class MessageView:
    """A scheduled message as the API shows it, its state derived from its send's schedule and run."""
    id: UUID
    organization_id: UUID
    schedule_id: UUID
    local_id: str | None
    request_sha256: str
    sender_user_id: UUID | None
    status: str
    execute_at: datetime
    content: dict[str, Any]
    target: dict[str, Any]
    published_at: datetime | None
    sent_at: datetime | None
    cancelled_at: datetime | None
    deliveries_total: int
    deliveries_delivered: int
    deliveries_failed: int
    created_at: datetime
    updated_at: datetime


_SELECT = f"""SELECT m.id, m.organization_id, m.schedule_id, m.local_id, m.request_sha256, m.sender_user_id,
        {STATUS_SQL} AS status, s.execute_at, s.send_content AS content, s.send_target AS target, r.published_at,
        r.finished_at AS sent_at, s.cancelled_at, coalesce(r.deliveries_total, 0) AS deliveries_total,
        coalesce(r.deliveries_delivered, 0) AS deliveries_delivered,
        coalesce(r.deliveries_failed, 0) AS deliveries_failed, m.created_at, greatest(m.updated_at, s.updated_at)
        AS updated_at
    FROM scheduled_messages m JOIN schedules s ON s.id = m.schedule_id AND s.organization_id = m.organization_id
    {RUN_JOIN}"""


def lock_local_id(conn: psycopg.Connection, organization_id: UUID, local_id: str) -> None:
    """Serialize requests carrying the same local_id in one organization until the transaction ends, so a retried
    request racing the first finds its message instead of creating a second send."""
    conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (f"message:{organization_id}:{local_id}",))


def insert_message(conn: psycopg.Connection, organization_id: UUID, schedule_id: UUID, *, local_id: str | None,
                   request_sha256: str, sender_user_id: UUID | None) -> UUID:
    """Insert a message for a send's schedule and return its id (a duplicate local_id raises UniqueViolation:
    callers hold lock_local_id and looked first)."""
    row = conn.execute(
        """INSERT INTO scheduled_messages (organization_id, schedule_id, local_id, request_sha256, sender_user_id)
           VALUES (%s, %s, %s, %s, %s) RETURNING id""",
        (organization_id, schedule_id, local_id, request_sha256, sender_user_id),
    ).fetchone()
    assert row is not None
    return UUID(str(row[0]))


def update_message(conn: psycopg.Connection, organization_id: UUID, message_id: UUID, *,
                   sender_user_id: UUID | None) -> None:
    """Record an edit (PUT) of a message."""
    conn.execute("UPDATE scheduled_messages SET sender_user_id = %s, updated_at = now() "
                 "WHERE id = %s AND organization_id = %s", (sender_user_id, message_id, organization_id))


def get_message(conn: psycopg.Connection, organization_id: UUID, message_id: UUID) -> MessageView | None:
    """A message of the organization, or None."""
    with conn.cursor(row_factory=class_row(MessageView)) as cur:
        cur.execute(f"{_SELECT} WHERE m.id = %s AND m.organization_id = %s", (message_id, organization_id))
        return cur.fetchone()


def get_message_by_local_id(conn: psycopg.Connection, organization_id: UUID, local_id: str) -> MessageView | None:
    """The organization's message with this local_id, or None."""
    with conn.cursor(row_factory=class_row(MessageView)) as cur:
        cur.execute(f"{_SELECT} WHERE m.local_id = %s AND m.organization_id = %s", (local_id, organization_id))
        return cur.fetchone()


def list_messages(conn: psycopg.Connection, organization_id: UUID, *, limit: int, status: str | None = None,
                  after: tuple[datetime, UUID] | None = None) -> list[MessageView]:
    """Messages, oldest first (of a status, if given), keyset-paged after (created_at, id)."""
    where = ["m.organization_id = %s"]
    params: list[Any] = [organization_id]
    if status:
        where.append(f"{STATUS_SQL} = %s")
        params.append(status)
    if after:
        where.append("(m.created_at, m.id) > (%s, %s)")
        params.extend(after)
    with conn.cursor(row_factory=class_row(MessageView)) as cur:
        cur.execute(f"{_SELECT} WHERE {' AND '.join(where)} ORDER BY m.created_at, m.id LIMIT %s", [*params, limit])
        return cur.fetchall()


def count_messages(conn: psycopg.Connection, organization_id: UUID, status: str | None = None) -> int:
    """How many messages the organization has (of a status, if given)."""
    where, params = "m.organization_id = %s", [organization_id]
    if status:
        where += f" AND {STATUS_SQL} = %s"
        params.append(status)  # type: ignore[arg-type]
    row = conn.execute(f"SELECT count(*) FROM ({_SELECT} WHERE {where}) c", params).fetchone()
    assert row is not None
    return int(row[0])
