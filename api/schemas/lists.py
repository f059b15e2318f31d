"""Schemas for contact lists and their members."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from api.schemas.common import PageArgs, PageInfo, Success, TenantBody


class ListIn(TenantBody):
    name = fields.String(required=True, validate=validate.Length(min=1, max=255))
    description = fields.String(allow_none=True, validate=validate.Length(max=2000))


class ListUpdate(TenantBody):
    """Every field optional."""

    name = fields.String(validate=validate.Length(min=1, max=255))
    description = fields.String(allow_none=True, validate=validate.Length(max=2000))


class ListOut(Schema):
    id = fields.UUID(required=True)
    organization_id = fields.UUID(required=True)
    name = fields.String(required=True)
    description = fields.String(allow_none=True, required=True)
    member_count = fields.Integer(required=True)
    created_at = fields.DateTime(required=True)
    updated_at = fields.DateTime(required=True)


class ListPage(Schema):
    page_info = fields.Nested(PageInfo, required=True)
    records = fields.List(fields.Nested(ListOut), required=True)


class ListListArgs(PageArgs):
    pass


class MembersIn(TenantBody):
    emails = fields.List(fields.Raw(), validate=validate.Length(max=1000),
                         metadata={"description": "Addresses; unknown ones become email-only users"})
    user_ids = fields.List(fields.Raw(), validate=validate.Length(max=1000),
                           metadata={"description": "Ids of users of the organization"})


class MembersAdded(Success):
    added_members_count = fields.Integer(required=True)


class MembersRemoved(Success):
    removed_members_count = fields.Integer(required=True)
