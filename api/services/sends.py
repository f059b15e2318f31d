"""Sends inside the caller's transaction, for scheduled messages and campaigns alike: check a target's references,
create the hidden one-shot schedule, edit or cancel it while it has not fired. Beat is woken at commit."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import psycopg

from shared.errors import InvalidInput, NotFound
from shared.sends import Content, Target
from shared.sql import contact_lists as list_sql
from shared.sql import organizations as organization_sql
from shared.sql import schedules as schedule_sql
from shared.sql import sends as send_sql
from shared.sql import users as user_sql
from shared.sql.sends import SendState

NO_GATEWAY = ("to: {phone} is a phone number and the organization has no message gateway; set one with "
              "PATCH /v1/organization (message_gateway: {{url, secret}})")


def check_target(conn: psycopg.Connection, organization_id: UUID, target: Target) -> None:
    """The target's list and users are the organization's, and a phone number has a gateway to go to; raises
    NotFound (a list or user missing, or another organization's), InvalidInput (a phone with no gateway)."""
    if target.list_id is not None and not list_sql.list_exists(conn, organization_id, target.list_id):
        raise NotFound(f"list_id: Contact list with id {target.list_id} does not exist")
    if target.user_ids is not None:
        existing = user_sql.existing_user_ids(conn, organization_id, list(target.user_ids))
        missing = [str(u) for u in target.user_ids if u not in existing]
        if missing:
            name = "user_id" if target.single_user else "user_ids"
            raise NotFound(f"{name}: User(s) with id {', '.join(missing[:10])} do not exist")
    phones = target.phones()
    if phones and organization_sql.get_message_gateway(conn, organization_id) is None:
        raise InvalidInput(NO_GATEWAY.format(phone=phones[0]))


def create_send(conn: psycopg.Connection, organization_id: UUID, *, owner: str, name: str, content: Content,
                target: Target, execute_at: datetime, created_by: UUID | None) -> UUID:
    """Check the target and create the hidden one-shot schedule that sends `content` at `execute_at` (validated
    by the caller with shared.cron.validate_execute_at); return the schedule id; raises NotFound, InvalidInput."""
    check_target(conn, organization_id, target)
    schedule_id = send_sql.insert_send(conn, organization_id, owner=owner, name=name, content=content, target=target,
                                       execute_at=execute_at, created_by=created_by)
    schedule_sql.notify_beat(conn)
    return schedule_id


def lock_send(conn: psycopg.Connection, organization_id: UUID, schedule_id: UUID, owner: str,
              missing: NotFound) -> SendState:
    """Lock a send's schedule (beat cannot fire it until commit) and return its state; raises `missing`."""
    state = send_sql.lock_send(conn, organization_id, schedule_id, owner)
    if state is None:
        raise missing
    return state


def replace_send(conn: psycopg.Connection, state: SendState, *, name: str, content: Content, target: Target,
                 execute_at: datetime, label: str) -> SendState:
    """Give a locked send new content, target and slot; raises StateConflict ('<label> is sending; cannot edit')
    once it has fired or was cancelled (judged before anything else), NotFound, InvalidInput."""
    send_sql.refuse_unless_scheduled(state, label, "edit")
    check_target(conn, state.organization_id, target)
    fresh = send_sql.replace_send(conn, state, name=name, content=content, target=target, execute_at=execute_at,
                                  label=label)
    schedule_sql.notify_beat(conn)
    return fresh


def cancel_send(conn: psycopg.Connection, state: SendState, *, label: str) -> SendState:
    """Cancel a locked send before its slot; raises StateConflict ('<label> is sent; cannot cancel')."""
    return send_sql.cancel_send(conn, state, label=label)
