"""Scheduled messages inside the caller's transaction: create (local_id replay), read, replace, cancel.

A message is a send (api/services/sends.py) with the caller's local_id and sender: beat fires its hidden
one-shot schedule at execute_at, and workers deliver it to each recipient's channel.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import psycopg

from api.services import sends as send_service
from shared.cron import validate_execute_at
from shared.errors import Conflict, InvalidInput, NotFound
from shared.schedule_rules import parse_user_ids
from shared.sends import Content, Target, parse_content, parse_target
from shared.settings import Settings
from shared.sql import scheduled_messages as message_sql
from shared.sql import users as user_sql
from shared.sql.scheduled_messages import MessageView
from shared.sql.sends import refuse_unless_scheduled

OWNER = "message"
LABEL = "Scheduled message"
DEFAULT_NAME = "Scheduled message"


@dataclass(frozen=True)
class MessageBody:
    """A checked POST or PUT body."""
    execute_at: datetime
    content: Content
    target: Target
    sender_user_id: UUID | None


def not_found(message_id: object) -> NotFound:
    """The 404 for a message that is missing or another organization's."""
    return NotFound(f"Scheduled message with id {message_id} does not exist")


def request_sha256(data: dict[str, Any]) -> str:
    """A fingerprint of a body, to tell a replay (same local_id, same body) from a clash (pure)."""
    body = {k: v for k, v in data.items() if k != "organization_id"}
    return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()


def check_body(conn: psycopg.Connection, settings: Settings, organization_id: UUID, data: dict[str, Any],
               caller_user_id: UUID | None) -> MessageBody:
    """Every field of a body, then its references; raises InvalidInput or NotFound naming the field."""
    execute_at = validate_execute_at(data["execute_at"], datetime.now(UTC), settings.send_slots, field="execute_at")
    content = parse_content(data["content"])
    target = parse_target(data)
    sender = data.get("sender_user_id")
    sender_id = parse_user_ids([sender], "sender_user_id")[0] if sender is not None else caller_user_id
    if sender_id is not None and not user_sql.existing_user_ids(conn, organization_id, [sender_id]):
        raise NotFound(f"sender_user_id: User with id {sender_id} does not exist")
    send_service.check_target(conn, organization_id, target)
    return MessageBody(execute_at, content, target, sender_id)


def create_message(conn: psycopg.Connection, settings: Settings, organization_id: UUID, data: dict[str, Any],
                   caller_user_id: UUID | None) -> tuple[MessageView, bool]:
    """The new message and True, or the existing one with the same local_id and body and False; raises Conflict
    (the local_id with another body), InvalidInput, NotFound. A refused request writes nothing."""
    local_id, fingerprint = data.get("local_id"), request_sha256(data)
    if local_id is not None:
        message_sql.lock_local_id(conn, organization_id, local_id)
        existing = message_sql.get_message_by_local_id(conn, organization_id, local_id)
        if existing is not None:
            if existing.request_sha256 != fingerprint:
                raise Conflict(f"local_id: A scheduled message with local_id {local_id!r} exists ({existing.id}) "
                               "with a different body")
            return existing, False
    body = check_body(conn, settings, organization_id, data, caller_user_id)
    schedule_id = send_service.create_send(conn, organization_id, owner=OWNER, name=body.content.subject or
                                           DEFAULT_NAME, content=body.content, target=body.target,
                                           execute_at=body.execute_at, created_by=body.sender_user_id)
    message_id = message_sql.insert_message(conn, organization_id, schedule_id, local_id=local_id,
                                            request_sha256=fingerprint, sender_user_id=body.sender_user_id)
    return load_message(conn, organization_id, message_id), True


def load_message(conn: psycopg.Connection, organization_id: UUID, message_id: UUID) -> MessageView:
    """A message of the organization; raises NotFound."""
    message = message_sql.get_message(conn, organization_id, message_id)
    if message is None:
        raise not_found(message_id)
    return message


def replace_message(conn: psycopg.Connection, settings: Settings, organization_id: UUID, message_id: UUID,
                    data: dict[str, Any], caller_user_id: UUID | None) -> MessageView:
    """Replace content, target and slot while the message is scheduled; raises StateConflict naming its state
    (judged first, under the lock beat needs to fire it), InvalidInput, NotFound."""
    message = load_message(conn, organization_id, message_id)
    state = send_service.lock_send(conn, organization_id, message.schedule_id, OWNER, not_found(message_id))
    refuse_unless_scheduled(state, LABEL, "edit")
    if data.get("local_id") is not None and data["local_id"] != message.local_id:
        raise InvalidInput("local_id: Cannot change; leave it out or give the message's own")
    body = check_body(conn, settings, organization_id, data, caller_user_id)
    send_service.replace_send(conn, state, name=body.content.subject or DEFAULT_NAME, content=body.content,
                              target=body.target, execute_at=body.execute_at, label=LABEL)
    message_sql.update_message(conn, organization_id, message_id, sender_user_id=body.sender_user_id)
    return load_message(conn, organization_id, message_id)


def cancel_message(conn: psycopg.Connection, organization_id: UUID, message_id: UUID) -> MessageView:
    """Cancel a scheduled message before its slot; raises StateConflict naming its state, NotFound."""
    message = load_message(conn, organization_id, message_id)
    state = send_service.lock_send(conn, organization_id, message.schedule_id, OWNER, not_found(message_id))
    send_service.cancel_send(conn, state, label=LABEL)
    return load_message(conn, organization_id, message_id)
