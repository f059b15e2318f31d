"""Schemas for campaigns: content sent once to a contact list, through draft, scheduled, sending, sent."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from api.schemas.common import PageArgs, PageInfo, TenantBody, uuid_field

STATES_DOC = ("draft (editable) -> scheduled (POST .../schedule) -> sending (beat fired it at scheduled_at) -> sent "
              "(every delivery ended); draft or scheduled -> cancelled (POST .../cancel)")


class CampaignContent(Schema):
    """What each member of the segment receives: a text, or a template rendered with variables."""

    subject = fields.String(validate=validate.Length(min=1, max=998), metadata={
        "description": "Email subject (default: the campaign's name)"})
    text = fields.String(validate=validate.Length(min=1, max=100_000))
    template = fields.String(validate=validate.Length(min=1, max=100_000), metadata={
        "description": "Jinja2 text rendered with `variables`"})
    variables = fields.Dict(keys=fields.String(), values=fields.Raw(allow_none=True))

    @validates_schema
    def _one_body(self, data: dict[str, Any], **_: Any) -> None:
        if ("text" in data) == ("template" in data):
            raise ValidationError("Give exactly one of text or template", "text")
        if "variables" in data and "template" not in data:
            raise ValidationError("Only a template takes variables", "variables")


class CampaignCreate(TenantBody):
    name = fields.String(required=True, validate=validate.Length(min=1, max=255))
    description = fields.String(load_default="", validate=validate.Length(max=5000))
    segment_id = uuid_field(required=True, metadata={"description": "The contact list it is sent to (404 if the "
                                                                     "organization has no such list)"})
    content = fields.Nested(CampaignContent, required=True)


class CampaignUpdate(TenantBody):
    """Every field optional; only a draft may be changed (412 otherwise)."""

    name = fields.String(validate=validate.Length(min=1, max=255))
    description = fields.String(validate=validate.Length(max=5000))
    segment_id = uuid_field()
    content = fields.Nested(CampaignContent)


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


class CampaignPage(Schema):
    page_info = fields.Nested(PageInfo, required=True)
    records = fields.List(fields.Nested(CampaignOut), required=True)


class CampaignListArgs(PageArgs):
    """Campaigns, oldest first."""
