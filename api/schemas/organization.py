"""Schemas for the caller's organization and its message gateway."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from api.schemas.common import TenantBody


class MessageGatewayIn(Schema):
    url = fields.String(required=True, validate=validate.Length(min=1, max=2048), metadata={
        "description": "http(s) URL that receives {to, text, message_id} for each phone number (outbound policy: "
                       "no private or loopback address unless PUNCTUAL_OUTBOUND_ALLOWLIST allows it)"})
    secret = fields.String(validate=validate.Length(max=512), metadata={
        "description": "whsec_<base64> signing secret (Standard Webhooks); required the first time, kept when "
                       "left out; stored encrypted, never returned"})


class OrganizationUpdate(TenantBody):
    name = fields.String(validate=validate.Length(min=1, max=255))
    message_gateway = fields.Nested(MessageGatewayIn, allow_none=True, metadata={
        "description": "null removes the gateway (phone numbers are then refused)"})


class MessageGatewayOut(Schema):
    url = fields.String(required=True)
    has_secret = fields.Boolean(required=True)


class OrganizationOut(Schema):
    id = fields.UUID(required=True)
    name = fields.String(required=True)
    created_at = fields.DateTime(required=True)
    message_gateway = fields.Nested(MessageGatewayOut, allow_none=True, required=True)
