"""SQL for users (members and email-only) and user attribute definitions."""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any
from uuid import UUID

import psycopg
from psycopg.rows import class_row
from psycopg.types.json import Jsonb

from shared.attribute_rules import AttributeDefinition


@dataclass(frozen=True)
class User:
    id: UUID
    organization_id: UUID
    kind: str
    email: str
    name: str | None
    timezone: str
    attributes: dict[str, Any]
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class UserAttribute:
    id: UUID
    organization_id: UUID
    name: str
    type: str
    multi_value: bool
    created_at: datetime


USER_COLUMNS = ", ".join(f.name for f in fields(User))
ATTRIBUTE_COLUMNS = ", ".join(f.name for f in fields(UserAttribute))


def find_users_by_email(conn: psycopg.Connection, organization_id: UUID, emails: list[str]) -> list[User]:
    """Users of the organization with these addresses (case-insensitive)."""
    with conn.cursor(row_factory=class_row(User)) as cur:
        cur.execute(
            f"""SELECT {USER_COLUMNS} FROM users
                WHERE organization_id = %s AND lower(email) = ANY(%s::text[])""",
            (organization_id, [e.lower() for e in emails]),
        )
        return cur.fetchall()


def get_user_by_email(conn: psycopg.Connection, organization_id: UUID, email: str,
                      *, for_update: bool = False) -> User | None:
    """The user with this address in the organization, or None."""
    lock = " FOR UPDATE" if for_update else ""
    with conn.cursor(row_factory=class_row(User)) as cur:
        cur.execute(
            f"SELECT {USER_COLUMNS} FROM users WHERE organization_id = %s AND lower(email) = lower(%s){lock}",
            (organization_id, email),
        )
        return cur.fetchone()


def insert_email_only_user(conn: psycopg.Connection, organization_id: UUID, email: str, *,
                           name: str | None = None, timezone: str = "UTC",
                           attributes: dict[str, Any] | None = None) -> User | None:
    """Insert an email-only user; None when the address exists already (a concurrent upsert won)."""
    with conn.cursor(row_factory=class_row(User)) as cur:
        cur.execute(
            f"""INSERT INTO users (organization_id, kind, email, name, timezone, attributes)
                VALUES (%s, 'email_only', %s, %s, %s, %s)
                ON CONFLICT (organization_id, lower(email)) DO NOTHING RETURNING {USER_COLUMNS}""",
            (organization_id, email, name, timezone, Jsonb(attributes or {})),
        )
        return cur.fetchone()


def get_user(conn: psycopg.Connection, organization_id: UUID, user_id: UUID, *,
             for_update: bool = False) -> User | None:
    """The user of the organization with this id, or None."""
    lock = " FOR UPDATE" if for_update else ""
    with conn.cursor(row_factory=class_row(User)) as cur:
        cur.execute(f"SELECT {USER_COLUMNS} FROM users WHERE organization_id = %s AND id = %s{lock}",
                    (organization_id, user_id))
        return cur.fetchone()


def insert_member_user(conn: psycopg.Connection, organization_id: UUID, email: str, *, name: str | None,
                       timezone: str, attributes: dict[str, Any]) -> User | None:
    """Insert a member user; None when a user with this address exists already (in any kind)."""
    with conn.cursor(row_factory=class_row(User)) as cur:
        cur.execute(
            f"""INSERT INTO users (organization_id, kind, email, name, timezone, attributes)
                VALUES (%s, 'member', %s, %s, %s, %s)
                ON CONFLICT (organization_id, lower(email)) DO NOTHING RETURNING {USER_COLUMNS}""",
            (organization_id, email, name, timezone, Jsonb(attributes)),
        )
        return cur.fetchone()


def change_email(conn: psycopg.Connection, organization_id: UUID, user_id: UUID, email: str) -> bool:
    """Give the user a new address; False when another user of the organization has it."""
    try:
        # A savepoint: a concurrent change to the same address fails this statement, not the caller's transaction.
        with conn.transaction():
            conn.execute("UPDATE users SET email = %s, updated_at = now() WHERE id = %s AND organization_id = %s",
                         (email, user_id, organization_id))
    except psycopg.errors.UniqueViolation:
        return False
    return True


def delete_user(conn: psycopg.Connection, organization_id: UUID, user_id: UUID) -> bool:
    """Delete a user (their subscriptions go with them; schedules they own stay, without an owner)."""
    cur = conn.execute("DELETE FROM users WHERE id = %s AND organization_id = %s", (user_id, organization_id))
    return cur.rowcount == 1


def update_user(conn: psycopg.Connection, organization_id: UUID, user_id: UUID, *, name: str | None,
                timezone: str, attributes: dict[str, Any]) -> User:
    """Overwrite a user's name, time zone and attributes; return it."""
    with conn.cursor(row_factory=class_row(User)) as cur:
        cur.execute(
            f"""UPDATE users SET name = %s, timezone = %s, attributes = %s, updated_at = now()
                WHERE id = %s AND organization_id = %s RETURNING {USER_COLUMNS}""",
            (name, timezone, Jsonb(attributes), user_id, organization_id),
        )
        row = cur.fetchone()
    assert row is not None
    return row


def existing_user_ids(conn: psycopg.Connection, organization_id: UUID, user_ids: list[UUID]) -> set[UUID]:
    """Which of these ids are users of the organization."""
    rows = conn.execute("SELECT id FROM users WHERE organization_id = %s AND id = ANY(%s)",
                        (organization_id, user_ids)).fetchall()
    return {r[0] for r in rows}


def list_users(conn: psycopg.Connection, organization_id: UUID, *, limit: int, kind: str | None = None,
               after: tuple[datetime, UUID] | None = None) -> list[User]:
    """Users, oldest first, keyset-paged after (created_at, id)."""
    where = ["organization_id = %s"]
    params: list[Any] = [organization_id]
    if kind:
        where.append("kind = %s")
        params.append(kind)
    if after:
        where.append("(created_at, id) > (%s, %s)")
        params.extend(after)
    with conn.cursor(row_factory=class_row(User)) as cur:
        cur.execute(
            f"""SELECT {USER_COLUMNS} FROM users WHERE {" AND ".join(where)}
                ORDER BY created_at, id LIMIT %s""",
            [*params, limit],
        )
        return cur.fetchall()


def count_users(conn: psycopg.Connection, organization_id: UUID, kind: str | None = None) -> int:
    """How many users the organization has (of a kind, if given)."""
    row = conn.execute(
        "SELECT count(*) FROM users WHERE organization_id = %s AND (%s::text IS NULL OR kind = %s)",
        (organization_id, kind, kind),
    ).fetchone()
    assert row is not None
    return int(row[0])


def insert_attribute(conn: psycopg.Connection, organization_id: UUID, name: str, type_: str,
                     multi_value: bool) -> UserAttribute | None:
    """Declare an attribute; None if one with this name exists."""
    with conn.cursor(row_factory=class_row(UserAttribute)) as cur:
        cur.execute(
            f"""INSERT INTO user_attributes (organization_id, name, type, multi_value) VALUES (%s, %s, %s, %s)
                ON CONFLICT (organization_id, name) DO NOTHING RETURNING {ATTRIBUTE_COLUMNS}""",
            (organization_id, name, type_, multi_value),
        )
        return cur.fetchone()


def list_attributes(conn: psycopg.Connection, organization_id: UUID) -> list[UserAttribute]:
    """Every declared attribute of the organization, by name."""
    with conn.cursor(row_factory=class_row(UserAttribute)) as cur:
        cur.execute(f"SELECT {ATTRIBUTE_COLUMNS} FROM user_attributes WHERE organization_id = %s ORDER BY name",
                    (organization_id,))
        return cur.fetchall()


def attribute_definitions(conn: psycopg.Connection, organization_id: UUID) -> dict[str, AttributeDefinition]:
    """Declared attributes by name, as the rules module wants them."""
    return {a.name: AttributeDefinition(a.name, a.type, a.multi_value) for a in list_attributes(conn, organization_id)}
