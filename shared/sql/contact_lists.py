"""SQL for contact lists and their members (users, resolved when a send runs)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import psycopg
from psycopg.rows import class_row


@dataclass(frozen=True)
class ContactList:
    id: UUID
    organization_id: UUID
    name: str
    description: str | None
    member_count: int
    created_at: datetime
    updated_at: datetime


_COLUMNS = """l.id, l.organization_id, l.name, l.description,
    (SELECT count(*) FROM contact_list_members m WHERE m.contact_list_id = l.id)::int AS member_count,
    l.created_at, l.updated_at"""


def insert_list(conn: psycopg.Connection, organization_id: UUID, name: str, description: str | None) -> UUID:
    """Insert a contact list and return its id."""
    row = conn.execute(
        "INSERT INTO contact_lists (organization_id, name, description) VALUES (%s, %s, %s) RETURNING id",
        (organization_id, name, description),
    ).fetchone()
    assert row is not None
    return UUID(str(row[0]))


def get_list(conn: psycopg.Connection, organization_id: UUID, list_id: UUID, *,
             for_update: bool = False) -> ContactList | None:
    """A live contact list of the organization with its member count, or None."""
    lock = " FOR UPDATE OF l" if for_update else ""
    with conn.cursor(row_factory=class_row(ContactList)) as cur:
        cur.execute(
            f"""SELECT {_COLUMNS} FROM contact_lists l
                WHERE l.id = %s AND l.organization_id = %s AND l.deleted_at IS NULL{lock}""",
            (list_id, organization_id),
        )
        return cur.fetchone()


def list_exists(conn: psycopg.Connection, organization_id: UUID, list_id: UUID) -> bool:
    """Whether the organization has this live contact list."""
    return conn.execute(
        "SELECT 1 FROM contact_lists WHERE id = %s AND organization_id = %s AND deleted_at IS NULL",
        (list_id, organization_id),
    ).fetchone() is not None


def list_lists(conn: psycopg.Connection, organization_id: UUID, *, limit: int,
               after: tuple[datetime, UUID] | None = None) -> list[ContactList]:
    """Live contact lists, oldest first, keyset-paged after (created_at, id)."""
    where, params = "", list[Any]([organization_id])
    if after:
        where = " AND (l.created_at, l.id) > (%s, %s)"
        params.extend(after)
    with conn.cursor(row_factory=class_row(ContactList)) as cur:
        cur.execute(
            f"""SELECT {_COLUMNS} FROM contact_lists l
                WHERE l.organization_id = %s AND l.deleted_at IS NULL{where}
                ORDER BY l.created_at, l.id LIMIT %s""",
            [*params, limit],
        )
        return cur.fetchall()


def count_lists(conn: psycopg.Connection, organization_id: UUID) -> int:
    """How many live contact lists the organization has."""
    row = conn.execute("SELECT count(*) FROM contact_lists WHERE organization_id = %s AND deleted_at IS NULL",
                       (organization_id,)).fetchone()
    assert row is not None
    return int(row[0])


def update_list(conn: psycopg.Connection, organization_id: UUID, list_id: UUID, values: dict[str, Any]) -> None:
    """Set name and/or description of a live list."""
    assignments = "".join(f"{column} = %s, " for column in values if column in ("name", "description"))
    params = [v for c, v in values.items() if c in ("name", "description")]
    conn.execute(
        f"""UPDATE contact_lists SET {assignments}updated_at = now()
            WHERE id = %s AND organization_id = %s AND deleted_at IS NULL""",
        [*params, list_id, organization_id],
    )


def soft_delete_list(conn: psycopg.Connection, organization_id: UUID, list_id: UUID) -> bool:
    """Mark a list deleted (a send or campaign naming it then finds no members); return whether one was."""
    cur = conn.execute(
        """UPDATE contact_lists SET deleted_at = now(), updated_at = now()
           WHERE id = %s AND organization_id = %s AND deleted_at IS NULL""",
        (list_id, organization_id),
    )
    return cur.rowcount == 1


def add_members(conn: psycopg.Connection, organization_id: UUID, list_id: UUID, user_ids: list[UUID]) -> int:
    """Add users of the organization to a list (members already in it are kept); return how many were added."""
    cur = conn.execute(
        """INSERT INTO contact_list_members (contact_list_id, user_id, organization_id)
           SELECT %s, u.id, u.organization_id FROM users u
           WHERE u.organization_id = %s AND u.id = ANY(%s)
           ORDER BY u.id
           ON CONFLICT DO NOTHING""",
        (list_id, organization_id, user_ids),
    )
    if cur.rowcount:
        conn.execute("UPDATE contact_lists SET updated_at = now() WHERE id = %s", (list_id,))
    return cur.rowcount


def remove_members(conn: psycopg.Connection, organization_id: UUID, list_id: UUID, user_ids: list[UUID]) -> int:
    """Remove users from a list; return how many were removed."""
    cur = conn.execute(
        """DELETE FROM contact_list_members
           WHERE contact_list_id = %s AND organization_id = %s AND user_id = ANY(%s)""",
        (list_id, organization_id, user_ids),
    )
    if cur.rowcount:
        conn.execute("UPDATE contact_lists SET updated_at = now() WHERE id = %s", (list_id,))
    return cur.rowcount


def list_member_ids(conn: psycopg.Connection, organization_id: UUID, list_id: UUID, *, limit: int,
                    after: UUID | None = None) -> list[UUID]:
    """A keyset page of a list's member user ids, by id."""
    rows = conn.execute(
        """SELECT user_id FROM contact_list_members
           WHERE contact_list_id = %s AND organization_id = %s AND (%s::uuid IS NULL OR user_id > %s)
           ORDER BY user_id LIMIT %s""",
        (list_id, organization_id, after, after, limit),
    ).fetchall()
    return [r[0] for r in rows]
