"""Contact lists: named sets of users that a scheduled message (or a campaign) is sent to, resolved at send time."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView

from api.auth import current_organization_id
from api.db import get_pool
from api.docs import ApiBlueprint, error_responses
from api.paging import build_page, keyset, read_cursor
from api.params import parse_uuid
from api.schemas.lists import (
    ListIn,
    ListListArgs,
    ListOut,
    ListPage,
    ListUpdate,
    MembersAdded,
    MembersIn,
    MembersRemoved,
)
from api.services import lists as service
from shared.db import transaction
from shared.sql import contact_lists as list_sql

blp = ApiBlueprint("lists", __name__, url_prefix="/v1/lists", description="Contact lists")
SORT = "lists:created_at:asc"


@blp.route("")
class Lists(MethodView):
    @blp.arguments(ListListArgs, location="query")
    @blp.response(200, ListPage)
    @error_responses(blp, 400)
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """List contact lists, oldest first, in keyset pages."""
        size, cursor = read_cursor(args, SORT)
        org = current_organization_id()
        with transaction(get_pool()) as conn:
            rows = list_sql.list_lists(conn, org, limit=size + 1, after=keyset(cursor))
            total = cursor.total if cursor and cursor.total is not None else list_sql.count_lists(conn, org)
        return build_page(rows, size, SORT, total, lambda row: (row.created_at, row.id))

    @blp.arguments(ListIn)
    @blp.response(201, ListOut)
    @error_responses(blp, 400)
    def post(self, data: dict[str, Any]) -> list_sql.ContactList:
        """Create an empty contact list."""
        org = current_organization_id()
        with transaction(get_pool()) as conn:
            list_id = list_sql.insert_list(conn, org, data["name"], data.get("description"))
            return service.load_list(conn, org, list_id)


@blp.route("/<id:list_id>")
class ListById(MethodView):
    @blp.response(200, ListOut)
    @error_responses(blp, 400, 404)
    def get(self, list_id: str) -> list_sql.ContactList:
        """Read a contact list and its member count."""
        lid = parse_uuid(list_id, "list_id")
        with transaction(get_pool()) as conn:
            return service.load_list(conn, current_organization_id(), lid)

    @blp.arguments(ListUpdate)
    @blp.response(200, ListOut)
    @error_responses(blp, 400, 404)
    def patch(self, data: dict[str, Any], list_id: str) -> list_sql.ContactList:
        """Change the name or description."""
        lid = parse_uuid(list_id, "list_id")
        with transaction(get_pool()) as conn:
            return service.update_list(conn, current_organization_id(), lid, data)

    @blp.response(204)
    @error_responses(blp, 400, 404)
    def delete(self, list_id: str) -> None:
        """Delete a list; messages and campaigns to it that have not been sent yet will find no members."""
        lid = parse_uuid(list_id, "list_id")
        with transaction(get_pool()) as conn:
            if not list_sql.soft_delete_list(conn, current_organization_id(), lid):
                raise service.not_found(lid)


@blp.route("/<id:list_id>/add-members", methods=["PUT"])
@blp.arguments(MembersIn)
@blp.response(200, MembersAdded)
@error_responses(blp, 400, 404)
def add_members(data: dict[str, Any], list_id: str) -> dict[str, Any]:
    """Add members by user id and by address (unknown addresses become email-only users)."""
    lid = parse_uuid(list_id, "list_id")
    with transaction(get_pool()) as conn:
        added = service.add_members(conn, current_organization_id(), lid, data)
    return {"added_members_count": added, "success": True}


@blp.route("/<id:list_id>/remove-members", methods=["PUT"])
@blp.arguments(MembersIn)
@blp.response(200, MembersRemoved)
@error_responses(blp, 400, 404)
def remove_members(data: dict[str, Any], list_id: str) -> dict[str, Any]:
    """Remove members by user id and by address."""
    lid = parse_uuid(list_id, "list_id")
    with transaction(get_pool()) as conn:
        removed = service.remove_members(conn, current_organization_id(), lid, data)
    return {"removed_members_count": removed, "success": True}
