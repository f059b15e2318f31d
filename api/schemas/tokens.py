"""Schemas for API tokens: listed without the token itself, which is shown once when created."""

from __future__ import annotations

from marshmallow import Schema, fields

from api.schemas.common import PageArgs, PageInfo


class TokenOut(Schema):
    id = fields.UUID(required=True)
    organization_id = fields.UUID(required=True)
    name = fields.String(required=True)
    token_prefix = fields.String(required=True, metadata={"description": "The token's first characters"})
    user_id = fields.UUID(required=True, allow_none=True, metadata={
        "description": "The member user the token acts for (owner of the schedules it creates), or null"})
    created_at = fields.DateTime(required=True)
    last_used_at = fields.DateTime(required=True, allow_none=True, metadata={"description": "To the minute"})
    expires_at = fields.DateTime(required=True, allow_none=True)
    revoked_at = fields.DateTime(required=True, allow_none=True)


class TokenListArgs(PageArgs):
    """Tokens, oldest first, revoked and expired ones included."""


class TokenPage(Schema):
    page_info = fields.Nested(PageInfo, required=True)
    records = fields.List(fields.Nested(TokenOut), required=True)
