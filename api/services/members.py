"""Member users inside the caller's transaction: create, change, delete (email-only users have their upsert)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import psycopg

from api.services.users import normalize_email
from shared.attribute_rules import merge_attributes
from shared.cron import validate_timezone
from shared.errors import Conflict, NotFound
from shared.sql import organizations as token_sql
from shared.sql import users as user_sql


def not_found(user_id: object) -> NotFound:
    """The 404 for a user that is missing or belongs to another organization."""
    return NotFound(f"User with id {user_id} does not exist")


def load_user(conn: psycopg.Connection, organization_id: UUID, user_id: UUID, *,
              for_update: bool = False) -> user_sql.User:
    """A user of the organization (member or email-only); raises NotFound."""
    user = user_sql.get_user(conn, organization_id, user_id, for_update=for_update)
    if user is None:
        raise not_found(user_id)
    return user


def _taken(email: str) -> Conflict:
    return Conflict(f"A user with email {email} already exists")


def create_member(conn: psycopg.Connection, organization_id: UUID, data: dict[str, Any]) -> user_sql.User:
    """Create a member user; raises InvalidInput, Conflict when the address is taken (by any user)."""
    email = normalize_email(data["email"])
    timezone = data.get("timezone", "UTC")
    validate_timezone(timezone)
    attributes = merge_attributes({}, data.get("user_attributes") or {},
                                  user_sql.attribute_definitions(conn, organization_id))
    user = user_sql.insert_member_user(conn, organization_id, email, name=data.get("name"), timezone=timezone,
                                       attributes=attributes)
    if user is None:
        raise _taken(email)
    return user


def update_member(conn: psycopg.Connection, organization_id: UUID, user_id: UUID,
                  data: dict[str, Any]) -> user_sql.User:
    """Change a user's address, name, time zone or attributes (merged; null, "" and [] unset);
    raises NotFound, InvalidInput, Conflict when the new address is taken."""
    current = load_user(conn, organization_id, user_id, for_update=True)
    if "timezone" in data:
        validate_timezone(data["timezone"])
    attributes = merge_attributes(current.attributes, data.get("user_attributes") or {},
                                  user_sql.attribute_definitions(conn, organization_id))
    if data.get("email") is not None:
        email = normalize_email(data["email"])
        if email != current.email and not user_sql.change_email(conn, organization_id, user_id, email):
            raise _taken(email)
    return user_sql.update_user(conn, organization_id, user_id, name=data.get("name", current.name),
                                timezone=data.get("timezone", current.timezone), attributes=attributes)


def delete_member(conn: psycopg.Connection, organization_id: UUID, user_id: UUID) -> None:
    """Delete a user and their subscriptions; their schedules stay without an owner; raises NotFound,
    Conflict while an API token still acts for them."""
    load_user(conn, organization_id, user_id, for_update=True)
    active = token_sql.count_active_user_tokens(conn, organization_id, user_id)
    if active:
        raise Conflict(f"User has {active} active API token(s); revoke them first (DELETE /v1/tokens/{{id}})")
    user_sql.delete_user(conn, organization_id, user_id)
