"""User operations inside the caller's transaction: email-only upserts with validated attributes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from uuid import UUID

import psycopg

from shared.attribute_rules import AttributeDefinition, merge_attributes
from shared.cron import validate_timezone
from shared.errors import Conflict, InvalidInput
from shared.schedule_rules import normalize_emails
from shared.sql import users as user_sql


def normalize_email(value: str) -> str:
    """The address trimmed and checked; raises InvalidInput (`email: ...`) naming what is wrong."""
    return normalize_emails([value], field="email")[0]


def upsert_email_only(conn: psycopg.Connection, organization_id: UUID, data: dict[str, Any],
                      definitions: Mapping[str, AttributeDefinition]) -> user_sql.User:
    """Create the user for this address or update the existing one; raises InvalidInput."""
    email = normalize_email(data["email"])
    if "timezone" in data:
        validate_timezone(data["timezone"])
    given = data.get("user_attributes") or {}
    current = user_sql.get_user_by_email(conn, organization_id, email, for_update=True)
    if current is None:
        attributes = merge_attributes({}, given, definitions)
        created = user_sql.insert_email_only_user(conn, organization_id, email, name=data.get("name"),
                                                  timezone=data.get("timezone", "UTC"), attributes=attributes)
        if created is not None:
            return created
        current = user_sql.get_user_by_email(conn, organization_id, email, for_update=True)
        assert current is not None  # the concurrent insert that beat ours
    return user_sql.update_user(
        conn, organization_id, current.id, name=data.get("name", current.name),
        timezone=data.get("timezone", current.timezone),
        attributes=merge_attributes(current.attributes, given, definitions))


def upsert_many(conn: psycopg.Connection, organization_id: UUID, items: list[dict[str, Any]]) -> list[user_sql.User]:
    """Upsert every user, answered in the given order; one bad item fails the whole request (one transaction)."""
    definitions = user_sql.attribute_definitions(conn, organization_id)
    # Rows are locked (and inserted) in one order, by address, whatever order the body gives: two
    # concurrent bulk calls over the same addresses then wait for each other instead of deadlocking.
    order = sorted(range(len(items)), key=lambda i: (_sort_key(items[i]), i))
    out: dict[int, user_sql.User] = {}
    for index in order:
        try:
            out[index] = upsert_email_only(conn, organization_id, items[index], definitions)
        except InvalidInput as error:
            raise InvalidInput(f"users.{index}: {error.detail}") from None
    return [out[i] for i in range(len(items))]


def _sort_key(item: dict[str, Any]) -> str:
    email = item.get("email")
    return email.strip().lower() if isinstance(email, str) else ""


def declare_attribute(conn: psycopg.Connection, organization_id: UUID, data: dict[str, Any]) -> user_sql.UserAttribute:
    """Declare a user attribute; raises Conflict if the name is taken."""
    row = user_sql.insert_attribute(conn, organization_id, data["name"], data["type"], data["multi_value"])
    if row is None:
        raise Conflict(f"User attribute {data['name']} already exists")
    return row
