"""Scheduled messages: one text at a 15-minute slot, to users, a contact list or addresses, by each one's channel."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView

from api.auth import current_organization_id, current_user_id
from api.db import get_pool, get_settings
from api.docs import ApiBlueprint, error_responses
from api.paging import build_page, keyset, read_cursor
from api.params import parse_uuid
from api.schemas.scheduled_messages import (
    ScheduledMessageCreated,
    ScheduledMessageIn,
    ScheduledMessageListArgs,
    ScheduledMessageOut,
    ScheduledMessagePage,
)
from api.services import scheduled_messages as service
from shared.db import transaction
from shared.sql import scheduled_messages as message_sql
from shared.sql.scheduled_messages import MessageView

blp = ApiBlueprint("scheduled_messages", __name__, url_prefix="/v1/scheduled-messages",
                   description="Scheduled messages")
SORT = "scheduled_messages:created_at:asc"


@blp.route("")
class ScheduledMessages(MethodView):
    @blp.arguments(ScheduledMessageListArgs, location="query")
    @blp.response(200, ScheduledMessagePage)
    @error_responses(blp, 400)
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """List messages, oldest first, in keyset pages; `status` filters (scheduled, sending, sent, failed,
        cancelled)."""
        size, cursor = read_cursor(args, f"{SORT}:{args.get('status') or ''}")
        org, status = current_organization_id(), args.get("status")
        with transaction(get_pool()) as conn:
            rows = message_sql.list_messages(conn, org, limit=size + 1, status=status, after=keyset(cursor))
            total = (cursor.total if cursor and cursor.total is not None
                     else message_sql.count_messages(conn, org, status))
        return build_page(rows, size, f"{SORT}:{status or ''}", total, lambda m: (m.created_at, m.id))

    @blp.arguments(ScheduledMessageIn)
    @blp.response(201, ScheduledMessageCreated)
    @blp.alt_response(200, schema=ScheduledMessageCreated, description="The same local_id and body again: the "
                                                                       "existing message; nothing is created")
    @error_responses(blp, 400, 404, 409)
    def post(self, data: dict[str, Any]) -> tuple[MessageView, int]:
        """Schedule a message (400 naming the field: execute_at off the 15-minute grid or under 15 minutes ahead,
        no target or two, a phone number not E.164 or with no message gateway, local_id over 255; 404 an unknown
        list or user; 409 a local_id already used with another body)."""
        with transaction(get_pool()) as conn:
            message, created = service.create_message(conn, get_settings(), current_organization_id(), data,
                                                      current_user_id())
        return message, 201 if created else 200


@blp.route("/<id:message_id>")
class ScheduledMessageById(MethodView):
    @blp.response(200, ScheduledMessageOut)
    @error_responses(blp, 400, 404)
    def get(self, message_id: str) -> MessageView:
        """Read a message: its state, when it was published and sent, and its delivery counts."""
        mid = parse_uuid(message_id, "message_id")
        with transaction(get_pool()) as conn:
            return service.load_message(conn, current_organization_id(), mid)

    @blp.arguments(ScheduledMessageIn)
    @blp.response(200, ScheduledMessageOut)
    @error_responses(blp, 400, 404, 409)
    def put(self, data: dict[str, Any], message_id: str) -> MessageView:
        """Replace a message (the same body as POST) while it is scheduled; 409 naming its state once it is
        sending, sent, failed or cancelled."""
        mid = parse_uuid(message_id, "message_id")
        with transaction(get_pool()) as conn:
            return service.replace_message(conn, get_settings(), current_organization_id(), mid, data,
                                           current_user_id())

    @blp.response(200, ScheduledMessageOut)
    @error_responses(blp, 400, 404, 409)
    def delete(self, message_id: str) -> MessageView:
        """Cancel a message before its slot (it stays readable, cancelled); 409 naming its state once it is
        sending, sent, failed or cancelled."""
        mid = parse_uuid(message_id, "message_id")
        with transaction(get_pool()) as conn:
            return service.cancel_message(conn, current_organization_id(), mid)
