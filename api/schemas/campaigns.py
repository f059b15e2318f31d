"""Schemas for campaigns: content sent once to a contact list, through draft, scheduled, sending, sent."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields, validate

from api.schemas.common import PageArgs, PageInfo, TenantBody, uuid_field

STATES_DOC = ("draft (editable) -> scheduled (POST .../schedule) -> sending (beat fired it at scheduled_at) -> sent "
              "(every delivery ended); draft or scheduled -> cancelled (POST .../cancel)")


CONTENT_DOC = ("What each member of the segment receives by email: `text`, or `template` (Jinja2) with `variables`; "
               "optional `subject` (default: the campaign's name) and `attachments` (up to 10 http(s) URLs, "
               "listed under the text)")


def content_field(**kwargs: Any) -> fields.Dict:
    """The content, checked by shared/sends.py (parse_content) as a scheduled message's is."""
    return fields.Dict(keys=fields.String(), values=fields.Raw(allow_none=True),
                       metadata={"description": CONTENT_DOC}, **kwargs)


class Deliveries(Schema):
    total = fields.Integer(required=True)
    delivered = fields.Integer(required=True)
    failed = fields.Integer(required=True)


class CampaignCreate(TenantBody):
    name = fields.String(required=True, validate=validate.Length(min=1, max=255))
    description = fields.String(load_default="", validate=validate.Length(max=5000))
    segment_id = uuid_field(required=True, metadata={"description": "The contact list it is sent to (404 if the "
                                                                     "organization has no such list)"})
    content = content_field(required=True)


class CampaignUpdate(TenantBody):
    """Every field optional; only a draft may be changed (412 otherwise)."""

    name = fields.String(validate=validate.Length(min=1, max=255))
    description = fields.String(validate=validate.Length(max=5000))
    segment_id = uuid_field()
    content = content_field()


class CampaignSchedule(TenantBody):
    scheduled_at = fields.String(required=True, validate=validate.Length(max=64), metadata={
        "description": "RFC 3339 with offset, on a 15-minute boundary (:00, :15, :30, :45, zero seconds) and at "
                       "least 15 minutes ahead"})


class CampaignOut(Schema):
    id = fields.UUID(required=True)
    organization_id = fields.UUID(required=True)
    name = fields.String(required=True)
    description = fields.String(required=True)
    segment_id = fields.UUID(required=True)
    content = fields.Dict(required=True)
    status = fields.String(required=True, metadata={"description": STATES_DOC})
    scheduled_at = fields.DateTime(allow_none=True, required=True)
    published_at = fields.DateTime(allow_none=True, required=True, metadata={
        "description": "When beat fired its send (the campaign became sending)"})
    sent_at = fields.DateTime(allow_none=True, required=True, metadata={
        "description": "When its last delivery ended (the campaign became sent)"})
    cancelled_at = fields.DateTime(allow_none=True, required=True)
    created_by = fields.UUID(allow_none=True, required=True, metadata={
        "description": "The member user whose token created it (null for an organization-wide token)"})
    created_at = fields.DateTime(required=True)
    updated_at = fields.DateTime(required=True)
    deliveries = fields.Nested(Deliveries, required=True, metadata={
        "description": "Of its send, once fired: every recipient's delivery, those delivered and those failed"})


class CampaignPage(Schema):
    page_info = fields.Nested(PageInfo, required=True)
    records = fields.List(fields.Nested(CampaignOut), required=True)


class CampaignListArgs(PageArgs):
    """Campaigns, oldest first."""
