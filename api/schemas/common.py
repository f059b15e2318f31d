"""Schemas shared by every resource: errors, paging, success, the tenant field."""

from __future__ import annotations

from marshmallow import Schema, fields

UUID_ERRORS = {"invalid_uuid": "Invalid uuid"}


def uuid_field(**kwargs: object) -> fields.UUID:
    """A UUID field whose error reads '<field>: Invalid uuid'."""
    return fields.UUID(error_messages=UUID_ERRORS, **kwargs)  # type: ignore[arg-type]


class Error(Schema):
    detail = fields.String(required=True, metadata={"description": "What is wrong, naming the field"})
    status = fields.Integer(required=True, metadata={"description": "The HTTP status code"})


class TenantBody(Schema):
    """Bodies may repeat the caller's organization_id; it must be the token's organization."""

    organization_id = uuid_field(load_only=True, metadata={
        "description": "Optional; must be the organization of the token (else 400)"})


class PageArgs(Schema):
    organization_id = uuid_field(metadata={"description": "Optional; must be the organization of the token"})
    cursor = fields.String(metadata={"description": "Opaque `next_cursor` of the previous page"})
    page_size = fields.Integer(metadata={"description": "Records per page, 1 to 100 (default 20); over 100 "
                                                       "answers 400 `Page size cannot exceed 100`"})


class PageInfo(Schema):
    has_next_page = fields.Boolean(required=True)
    next_cursor = fields.String(allow_none=True, required=True)
    page_size = fields.Integer(required=True)
    total_records = fields.Integer(required=True, metadata={
        "description": "Matching records when the first page was read (counted once, carried in the cursor). "
                       "Schedules: exact up to 10,000, the planner's estimate above that."})


class Success(Schema):
    success = fields.Boolean(required=True)
