"""Contact lists inside the caller's transaction: create, change, delete, add and remove members."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import psycopg

from api.services import recipients
from shared.errors import InvalidInput, NotFound
from shared.sql import contact_lists as list_sql
from shared.sql import users as user_sql


def not_found(list_id: object) -> NotFound:
    """The 404 for a list that is missing, deleted or another organization's."""
    return NotFound(f"Contact list with id {list_id} does not exist")


def load_list(conn: psycopg.Connection, organization_id: UUID, list_id: UUID, *,
              for_update: bool = False) -> list_sql.ContactList:
    """A live list of the organization; raises NotFound."""
    found = list_sql.get_list(conn, organization_id, list_id, for_update=for_update)
    if found is None:
        raise not_found(list_id)
    return found


def update_list(conn: psycopg.Connection, organization_id: UUID, list_id: UUID,
                data: dict[str, Any]) -> list_sql.ContactList:
    """Apply a PATCH of name and description; raises NotFound, InvalidInput (a null name)."""
    load_list(conn, organization_id, list_id, for_update=True)
    if "name" in data and data["name"] is None:
        raise InvalidInput("name: Field may not be null.")
    list_sql.update_list(conn, organization_id, list_id, data)
    return load_list(conn, organization_id, list_id)


def add_members(conn: psycopg.Connection, organization_id: UUID, list_id: UUID, data: dict[str, Any]) -> int:
    """Add members by id and by address (unknown addresses become email-only users); return how many were added;
    raises NotFound, InvalidInput (as schedule recipients: no ids or addresses, an unknown id)."""
    load_list(conn, organization_id, list_id, for_update=True)
    body = recipients.parse_recipients(data)
    recipients.check_members(conn, organization_id, body.user_ids)
    ids = [*body.user_ids, *recipients.ensure_email_users(conn, organization_id, body.emails)]
    return list_sql.add_members(conn, organization_id, list_id, list(dict.fromkeys(ids)))


def remove_members(conn: psycopg.Connection, organization_id: UUID, list_id: UUID, data: dict[str, Any]) -> int:
    """Remove members by id and by address; return how many were removed; raises NotFound, InvalidInput."""
    load_list(conn, organization_id, list_id, for_update=True)
    body = recipients.parse_recipients(data)
    recipients.check_members(conn, organization_id, body.user_ids)
    by_email = [u.id for u in user_sql.find_users_by_email(conn, organization_id, body.emails)]
    return list_sql.remove_members(conn, organization_id, list_id, list(dict.fromkeys([*body.user_ids, *by_email])))
