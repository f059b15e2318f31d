"""Schemas for users (members and email-only) and user attribute definitions."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from api.schemas.common import PageArgs, PageInfo, TenantBody
from shared.attribute_rules import ATTRIBUTE_TYPES

MAX_BULK_USERS = 20


class UserOut(Schema):
    id = fields.UUID(required=True)
    organization_id = fields.UUID(required=True)
    kind = fields.String(required=True, metadata={"description": "member or email_only"})
    email = fields.String(required=True)
    name = fields.String(allow_none=True)
    timezone = fields.String(required=True)
    user_attributes = fields.Dict(attribute="attributes", required=True)
    created_at = fields.DateTime(required=True)
    updated_at = fields.DateTime(required=True)


class UserListArgs(PageArgs):
    kind = fields.String(validate=validate.OneOf(("member", "email_only")))


class UserPage(Schema):
    page_info = fields.Nested(PageInfo, required=True)
    records = fields.List(fields.Nested(UserOut), required=True)


class EmailOnlyUser(Schema):
    email = fields.String(required=True, validate=validate.Length(max=320))
    name = fields.String(allow_none=True, validate=validate.Length(max=255))
    timezone = fields.String(validate=validate.Length(max=64), metadata={"description": "IANA zone (default UTC)"})
    user_attributes = fields.Dict(keys=fields.String(), values=fields.Raw(allow_none=True), metadata={
        "description": "Values checked against the declared attributes; null, \"\" and [] unset"})


class EmailOnlyUserIn(TenantBody, EmailOnlyUser):
    """Upsert by email (case-insensitive)."""


class BulkUsersIn(TenantBody):
    users = fields.List(fields.Nested(EmailOnlyUser), required=True, validate=[
        validate.Length(min=1, error="At least one user is required"),
        validate.Length(max=MAX_BULK_USERS,
                        error=f"Maximum of {MAX_BULK_USERS} users can be processed in a single request")])


class MemberUserIn(TenantBody, EmailOnlyUser):
    """A member user: a person of the organization (unique address in it), who may own schedules and tokens."""


class UserUpdate(TenantBody):
    """Every field optional; user_attributes are merged (null, "" and [] unset)."""

    email = fields.String(validate=validate.Length(max=320))
    name = fields.String(allow_none=True, validate=validate.Length(max=255))
    timezone = fields.String(validate=validate.Length(max=64), metadata={"description": "IANA zone"})
    user_attributes = fields.Dict(keys=fields.String(), values=fields.Raw(allow_none=True), metadata={
        "description": "Values checked against the declared attributes; null, \"\" and [] unset"})


class BulkUsersOut(Schema):
    users = fields.List(fields.Nested(UserOut), required=True)


class AttributeIn(TenantBody):
    name = fields.String(required=True, validate=validate.Regexp(
        r"^[A-Za-z_][A-Za-z0-9_]{0,62}$", error="Must start with a letter or _ and hold only letters, digits and _ "
        "(at most 63)"))
    type = fields.String(required=True, validate=validate.OneOf(ATTRIBUTE_TYPES))
    multi_value = fields.Boolean(load_default=False)


class AttributeOut(Schema):
    id = fields.UUID(required=True)
    name = fields.String(required=True)
    type = fields.String(required=True)
    multi_value = fields.Boolean(required=True)
    created_at = fields.DateTime(required=True)


class AttributeList(Schema):
    records = fields.List(fields.Nested(AttributeOut), required=True)
