"""SQL the workers read a schedule's subscribers with (users joined to schedule_subscribers)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import psycopg
from psycopg.rows import class_row


@dataclass(frozen=True)
class Subscriber:
    id: UUID
    email: str
    name: str | None
    timezone: str
    attributes: dict[str, Any]


_COLUMNS = "u.id, u.email, u.name, u.timezone, u.attributes"


def list_subscribers_page(conn: psycopg.Connection, organization_id: UUID, schedule_id: UUID,
                          *, after: UUID | None, limit: int) -> list[Subscriber]:
    """Return up to `limit` subscribers of a schedule with their users, keyset-paged by user id."""
    keyset = "AND s.user_id > %s" if after is not None else ""
    params: list[object] = [schedule_id, organization_id, *([after] if after is not None else []), limit]
    with conn.cursor(row_factory=class_row(Subscriber)) as cur:
        cur.execute(
            f"""SELECT {_COLUMNS} FROM schedule_subscribers s
                JOIN users u ON u.id = s.user_id AND u.organization_id = s.organization_id
                WHERE s.schedule_id = %s AND s.organization_id = %s {keyset}
                ORDER BY s.user_id LIMIT %s""",
            params,
        )
        return cur.fetchall()


def get_subscribers(conn: psycopg.Connection, organization_id: UUID, user_ids: Sequence[UUID]) -> list[Subscriber]:
    """Return these users of the organization, ordered by id (missing ones are left out)."""
    with conn.cursor(row_factory=class_row(Subscriber)) as cur:
        cur.execute(f"SELECT {_COLUMNS} FROM users u WHERE u.organization_id = %s AND u.id = ANY(%b) ORDER BY u.id",
                    (organization_id, list(user_ids)))
        return cur.fetchall()


def get_subscribers_unscoped(conn: psycopg.Connection, user_ids: Sequence[UUID]) -> dict[UUID, Subscriber]:
    """These users by id (workers, holding ids from deliveries that are themselves scoped)."""
    if not user_ids:
        return {}
    with conn.cursor(row_factory=class_row(Subscriber)) as cur:
        cur.execute(f"SELECT {_COLUMNS} FROM users u WHERE u.id = ANY(%b)", (list(user_ids),))
        return {s.id: s for s in cur.fetchall()}


def has_subscribers(conn: psycopg.Connection, organization_id: UUID, schedule_id: UUID) -> bool:
    """Return whether the schedule has at least one subscriber."""
    row = conn.execute(
        "SELECT EXISTS (SELECT 1 FROM schedule_subscribers WHERE schedule_id = %s AND organization_id = %s)",
        (schedule_id, organization_id),
    ).fetchone()
    return bool(row and row[0])


def count_subscribers(conn: psycopg.Connection, organization_id: UUID, schedule_id: UUID) -> int:
    """How many subscribers a schedule has."""
    row = conn.execute("SELECT count(*) FROM schedule_subscribers WHERE schedule_id = %s AND organization_id = %s",
                       (schedule_id, organization_id)).fetchone()
    return int(row[0]) if row else 0
