"""Users (members and email-only recipients) and user attribute definitions."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView

from api.auth import current_organization_id
from api.db import get_pool
from api.docs import ApiBlueprint, error_responses
from api.paging import build_page, keyset, read_cursor
from api.params import parse_uuid
from api.schemas.users import (
    AttributeIn,
    AttributeList,
    AttributeOut,
    BulkUsersIn,
    BulkUsersOut,
    EmailOnlyUserIn,
    MemberUserIn,
    UserListArgs,
    UserOut,
    UserPage,
    UserUpdate,
)
from api.services import members
from api.services import users as service
from shared.db import transaction
from shared.sql import users as user_sql

blp = ApiBlueprint("users", __name__, url_prefix="/v1", description="Users and user attributes")
SORT = "users:created_at:asc"


@blp.route("/users")
class Users(MethodView):
    @blp.arguments(UserListArgs, location="query")
    @blp.response(200, UserPage)
    @error_responses(blp, 400)
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """List users (members and email-only), oldest first, in keyset pages."""
        size, cursor = read_cursor(args, SORT)
        org, kind = current_organization_id(), args.get("kind")
        with transaction(get_pool()) as conn:
            rows = user_sql.list_users(conn, org, limit=size + 1, kind=kind, after=keyset(cursor))
            total = cursor.total if cursor and cursor.total is not None else user_sql.count_users(conn, org, kind)
        return build_page(rows, size, SORT, total, lambda u: (u.created_at, u.id))

    @blp.arguments(MemberUserIn)
    @blp.response(201, UserOut)
    @error_responses(blp, 400, 409)
    def post(self, data: dict[str, Any]) -> user_sql.User:
        """Create a member user (409 when a user of the organization has the address, whatever its kind)."""
        with transaction(get_pool()) as conn:
            return members.create_member(conn, current_organization_id(), data)


@blp.route("/users/<id:user_id>")
class UserById(MethodView):
    @blp.response(200, UserOut)
    @error_responses(blp, 400, 404)
    def get(self, user_id: str) -> user_sql.User:
        """Read a user (member or email-only)."""
        uid = parse_uuid(user_id, "user_id")
        with transaction(get_pool()) as conn:
            return members.load_user(conn, current_organization_id(), uid)

    @blp.arguments(UserUpdate)
    @blp.response(200, UserOut)
    @error_responses(blp, 400, 404, 409)
    def patch(self, data: dict[str, Any], user_id: str) -> user_sql.User:
        """Change a user's email, name, time zone or attributes (409 when the new address is taken)."""
        uid = parse_uuid(user_id, "user_id")
        with transaction(get_pool()) as conn:
            return members.update_member(conn, current_organization_id(), uid, data)

    @blp.response(204)
    @error_responses(blp, 400, 404, 409)
    def delete(self, user_id: str) -> None:
        """Delete a user and their subscriptions; schedules they own stay, without an owner. 409 while an
        active API token acts for the user (revoke it first)."""
        uid = parse_uuid(user_id, "user_id")
        with transaction(get_pool()) as conn:
            members.delete_member(conn, current_organization_id(), uid)


@blp.route("/users/email-only", methods=["POST"])
@blp.arguments(EmailOnlyUserIn)
@blp.response(200, UserOut)
@error_responses(blp, 400)
def upsert_email_only(data: dict[str, Any]) -> user_sql.User:
    """Create or update (by email) a user who only receives email."""
    org = current_organization_id()
    with transaction(get_pool()) as conn:
        return service.upsert_email_only(conn, org, data, user_sql.attribute_definitions(conn, org))


@blp.route("/users/email-only/bulk", methods=["POST"])
@blp.arguments(BulkUsersIn)
@blp.response(200, BulkUsersOut)
@error_responses(blp, 400)
def upsert_email_only_bulk(data: dict[str, Any]) -> dict[str, Any]:
    """Upsert up to 20 email-only users in one transaction."""
    with transaction(get_pool()) as conn:
        return {"users": service.upsert_many(conn, current_organization_id(), data["users"])}


@blp.route("/user-attributes")
class UserAttributes(MethodView):
    @blp.arguments(AttributeIn)
    @blp.response(201, AttributeOut)
    @error_responses(blp, 400, 409)
    def post(self, data: dict[str, Any]) -> user_sql.UserAttribute:
        """Declare a user attribute: name, type (string, number, boolean), multi-value."""
        with transaction(get_pool()) as conn:
            return service.declare_attribute(conn, current_organization_id(), data)

    @blp.response(200, AttributeList)
    @error_responses(blp)
    def get(self) -> dict[str, Any]:
        """List the declared user attributes."""
        with transaction(get_pool()) as conn:
            return {"records": user_sql.list_attributes(conn, current_organization_id())}
