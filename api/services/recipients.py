"""Recipients of email schedules: members by id and addresses (which become email-only users)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

import psycopg

from shared.errors import InvalidInput
from shared.schedule_rules import missing_members_error, normalize_emails, parse_user_ids
from shared.sql import schedules as schedule_sql
from shared.sql import users as user_sql

EMPTY_RECIPIENTS = "Please provide either valid email addresses, valid user IDs, or both"


@dataclass(frozen=True)
class RecipientsBody:
    emails: list[str]
    user_ids: list[UUID]


def parse_recipients(data: dict[str, Any]) -> RecipientsBody:
    """Validated addresses and ids; raises InvalidInput when both are absent or one is malformed."""
    if not data.get("emails") and not data.get("user_ids"):
        raise InvalidInput(EMPTY_RECIPIENTS)
    return RecipientsBody(normalize_emails(data.get("emails") or []), parse_user_ids(data.get("user_ids") or []))


def check_email_destination(schedule: schedule_sql.Schedule, verb: str) -> None:
    """Raise InvalidInput unless the schedule delivers by email."""
    if schedule.destination_type != "email":
        preposition = "to" if verb == "add" else "from"
        raise InvalidInput(f"Cannot {verb} recipients {preposition} destination type {schedule.destination_type}")


def check_members(conn: psycopg.Connection, organization_id: UUID, user_ids: list[UUID]) -> None:
    """Raise InvalidInput listing the ids that are not users of the organization."""
    existing = user_sql.existing_user_ids(conn, organization_id, user_ids)
    missing = [i for i in user_ids if i not in existing]
    if missing:
        raise missing_members_error(missing)


def ensure_email_users(conn: psycopg.Connection, organization_id: UUID, emails: list[str]) -> list[UUID]:
    """Ids of the users with these addresses, creating email-only users for the unknown ones."""
    found = {u.email.lower(): u.id for u in user_sql.find_users_by_email(conn, organization_id, emails)}
    # Inserted in one order whatever the body's, so concurrent calls over the same addresses cannot deadlock.
    for email in sorted(emails, key=str.lower):
        if email.lower() in found:
            continue
        user = user_sql.insert_email_only_user(conn, organization_id, email)
        if user is None:  # created concurrently since we looked
            user = user_sql.get_user_by_email(conn, organization_id, email)
        assert user is not None
        found[email.lower()] = user.id
    return [found[e.lower()] for e in emails]


def add_recipients(conn: psycopg.Connection, schedule: schedule_sql.Schedule, body: RecipientsBody) -> int:
    """Subscribe members and addresses to an email schedule; return how many were newly added."""
    check_email_destination(schedule, "add")
    check_members(conn, schedule.organization_id, body.user_ids)
    ids = [*body.user_ids, *ensure_email_users(conn, schedule.organization_id, body.emails)]
    return schedule_sql.set_subscribers(conn, schedule.organization_id, schedule.id, list(dict.fromkeys(ids)))


def remove_recipients(conn: psycopg.Connection, schedule: schedule_sql.Schedule, body: RecipientsBody) -> int:
    """Unsubscribe members and addresses from an email schedule; return how many were removed."""
    check_email_destination(schedule, "remove")
    check_members(conn, schedule.organization_id, body.user_ids)
    by_email = [u.id for u in user_sql.find_users_by_email(conn, schedule.organization_id, body.emails)]
    ids = list(dict.fromkeys([*body.user_ids, *by_email]))
    return schedule_sql.remove_subscribers(conn, schedule.organization_id, schedule.id, ids)
