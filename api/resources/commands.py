"""Commands: what a schedule runs (http, sql, template), and schedules created under one."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView

from api.auth import current_organization_id, current_user_id
from api.db import get_pool, get_settings
from api.docs import ApiBlueprint, error_responses
from api.paging import build_page, keyset, read_cursor
from api.params import parse_uuid
from api.schemas.commands import CommandCreate, CommandListArgs, CommandOut, CommandPage, CommandUpdate
from api.schemas.schedules import ScheduleCreate, ScheduleOut
from api.services import commands as service
from api.services import schedules as schedule_service
from api.services.schedule_values import owner_from_caller
from shared.db import transaction
from shared.sql import commands as command_sql
from shared.sql.schedule_listing import ScheduleView

blp = ApiBlueprint("commands", __name__, url_prefix="/v1/commands", description="Commands")
SORT = "commands:created_at:asc"


@blp.route("")
class Commands(MethodView):
    @blp.arguments(CommandListArgs, location="query")
    @blp.response(200, CommandPage)
    @error_responses(blp, 400)
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """List commands, oldest first, in keyset pages."""
        size, cursor = read_cursor(args, SORT)
        org = current_organization_id()
        with transaction(get_pool()) as conn:
            rows = command_sql.list_commands(conn, org, limit=size + 1, after=keyset(cursor))
            total = cursor.total if cursor and cursor.total is not None else command_sql.count_commands(conn, org)
        return build_page(rows, size, SORT, total, lambda c: (c.created_at, c.id))

    @blp.arguments(CommandCreate)
    @blp.response(201, CommandOut)
    @error_responses(blp, 400)
    def post(self, data: dict[str, Any]) -> command_sql.Command:
        """Create a command; its config is validated for its kind."""
        with transaction(get_pool()) as conn:
            return service.create_command(conn, get_settings(), current_organization_id(), data)


@blp.route("/<id:command_id>")
class CommandById(MethodView):
    @blp.response(200, CommandOut)
    @error_responses(blp, 400, 404)
    def get(self, command_id: str) -> command_sql.Command:
        """Read a command."""
        cid = parse_uuid(command_id, "command_id")
        with transaction(get_pool()) as conn:
            return service.load_command(conn, current_organization_id(), cid)

    @blp.arguments(CommandUpdate)
    @blp.response(200, CommandOut)
    @error_responses(blp, 400, 404)
    def patch(self, data: dict[str, Any], command_id: str) -> command_sql.Command:
        """Change a command's name, kind, config or filter keys."""
        cid = parse_uuid(command_id, "command_id")
        with transaction(get_pool()) as conn:
            return service.update_command(conn, get_settings(), current_organization_id(), cid, data)

    @blp.response(204)
    @error_responses(blp, 400, 404, 409)
    def delete(self, command_id: str) -> None:
        """Delete a command that no live schedule runs (409 otherwise)."""
        cid = parse_uuid(command_id, "command_id")
        with transaction(get_pool()) as conn:
            service.delete_command(conn, current_organization_id(), cid)


@blp.route("/<id:command_id>/schedules", methods=["POST"])
@blp.arguments(ScheduleCreate)
@blp.response(201, ScheduleOut)
@error_responses(blp, 400, 404)
def create_command_schedule(data: dict[str, Any], command_id: str) -> ScheduleView:
    """Create a schedule that runs this command (same body as POST /v1/schedules; a `command_id` in it must be
    this one). Humm's body works as is: `name` null names it after the command, and subscribers with no
    destination are emailed."""
    cid = parse_uuid(command_id, "command_id")
    org = current_organization_id()
    data = owner_from_caller(data, current_user_id(), creating=True)
    with transaction(get_pool()) as conn:
        service.load_command(conn, org, cid)
        return schedule_service.create_command_schedule(conn, get_settings(), org, cid, data)
