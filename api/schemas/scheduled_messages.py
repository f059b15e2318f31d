"""Schemas for scheduled messages: one send at a 15-minute slot to users, a contact list or addresses."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields, validate

from api.schemas.common import PageArgs, PageInfo, TenantBody
from shared.sends import content_from_json, target_from_json
from shared.statuses import SendStatus

STATUSES = tuple(str(s) for s in SendStatus)


class ContentDoc(Schema):
    """Exactly one of text or template (with variables); attachments are links put in the message."""

    text = fields.String(metadata={"description": "The message, at most 10,000 characters"})
    template = fields.String(metadata={"description": "A sandboxed Jinja2 template, rendered with `variables`"})
    variables = fields.Dict(metadata={"description": "Only with template; it must render with them"})
    subject = fields.String(metadata={"description": "Email subject (default: Scheduled message)"})
    attachments = fields.List(fields.String(), metadata={
        "description": "Up to 10 http(s) URLs, listed at the end of the message (never fetched)"})


class ScheduledMessageIn(TenantBody):
    """Exactly one target: user_id, user_ids, list_id or to."""

    execute_at = fields.String(required=True, metadata={
        "description": "RFC 3339 with offset, on a 15-minute boundary (:00, :15, :30, :45, zero seconds), at least "
                       "15 minutes ahead"})
    content = fields.Dict(required=True, metadata={"description": "{text} or {template, variables}; optional "
                                                                  "subject and attachments (ContentDoc)"})
    user_id = fields.Raw(metadata={"description": "A user of the organization (by email)"})
    user_ids = fields.List(fields.Raw(), metadata={"description": "A group of users (by email), up to 10,000"})
    list_id = fields.Raw(metadata={"description": "A contact list; its members when the message is sent"})
    to = fields.List(fields.Raw(), metadata={
        "description": "Up to 1,000 email addresses and E.164 phone numbers (+14155550100: through the "
                       "organization's message gateway)"})
    local_id = fields.String(validate=validate.Length(min=1, max=255), metadata={
        "description": "Your own id: the same again returns the existing message (200); with another body, 409"})
    sender_user_id = fields.Raw(metadata={"description": "A user of the organization sending it (default: the "
                                                         "token's user)"})


class ScheduledMessageCreated(Schema):
    id = fields.UUID(required=True)
    local_id = fields.String(allow_none=True, required=True)
    execute_at = fields.DateTime(required=True)
    status = fields.String(required=True, metadata={"description": " | ".join(STATUSES)})


class DeliveryCounts(Schema):
    total = fields.Integer(required=True)
    delivered = fields.Integer(required=True)
    failed = fields.Integer(required=True)


def _content(view: Any) -> dict[str, Any]:
    return content_from_json(view.content).as_json()


def _target(view: Any, name: str) -> Any:
    return target_from_json(view.target).as_fields()[name]


class ScheduledMessageOut(ScheduledMessageCreated):
    content = fields.Function(_content, required=True, metadata={"description": "ContentDoc"})
    user_id = fields.Function(lambda v: _target(v, "user_id"), allow_none=True)
    user_ids = fields.Function(lambda v: _target(v, "user_ids"), allow_none=True)
    list_id = fields.Function(lambda v: _target(v, "list_id"), allow_none=True)
    to = fields.Function(lambda v: _target(v, "to"), allow_none=True)
    sender_user_id = fields.UUID(allow_none=True, required=True)
    published_at = fields.DateTime(allow_none=True, required=True, metadata={
        "description": "When beat fired it (its run was queued)"})
    sent_at = fields.DateTime(allow_none=True, required=True, metadata={
        "description": "When every delivery had ended"})
    cancelled_at = fields.DateTime(allow_none=True, required=True)
    deliveries = fields.Function(lambda v: {"total": v.deliveries_total, "delivered": v.deliveries_delivered,
                                            "failed": v.deliveries_failed}, required=True,
                                 metadata={"description": "DeliveryCounts"})
    created_at = fields.DateTime(required=True)
    updated_at = fields.DateTime(required=True)


class ScheduledMessageListArgs(PageArgs):
    status = fields.String(validate=validate.OneOf(STATUSES))


class ScheduledMessagePage(Schema):
    page_info = fields.Nested(PageInfo, required=True)
    records = fields.List(fields.Nested(ScheduledMessageOut), required=True)
