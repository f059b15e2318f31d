"""Schedules: create, list, read, update, delete."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView

from api.auth import current_organization_id, current_user_id
from api.db import get_pool, get_settings
from api.docs import ApiBlueprint, error_responses
from api.paging import build_page, keyset, read_cursor
from api.params import parse_uuid
from api.schemas.schedules import ScheduleCreate, ScheduleListArgs, ScheduleOut, SchedulePage, ScheduleUpdate
from api.services import schedules as service
from api.services.schedule_values import owner_from_caller
from shared.db import transaction
from shared.sql import schedule_listing as listing
from shared.sql import schedules as schedule_sql

blp = ApiBlueprint("schedules", __name__, url_prefix="/v1/schedules", description="Schedules")
def list_query(args: dict[str, Any]) -> listing.ScheduleQuery:
    """The listing's filters and order from its query arguments."""
    return listing.ScheduleQuery(
        sort_field=args["sort_field"], descending=args["sort_direction"] == "desc", q=args.get("q"),
        status=args.get("status"), destination=args.get("destination"), run_mode=args.get("run_mode"),
        enabled=args.get("enabled"), owner_id=args.get("owner_id"))


@blp.route("")
class Schedules(MethodView):
    @blp.arguments(ScheduleListArgs, location="query")
    @blp.response(200, SchedulePage)
    @error_responses(blp, 400, 401, 429)
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """List schedules: filters, `q`, sort, keyset pages behind an opaque cursor."""
        query = list_query(args)
        sort = f"schedules:{query.sort_field}:{args['sort_direction']}"
        size, cursor = read_cursor(args, sort, time_valued=query.sort_field != "name")
        org = current_organization_id()
        with transaction(get_pool()) as conn:
            rows = listing.list_schedule_views(conn, org, query, limit=size + 1, after=keyset(cursor))
            # Counted once, on the first page, and carried in the cursor: deep pages stay O(page).
            total = cursor.total if cursor and cursor.total is not None else listing.count_schedules(conn, org, query)
        return build_page(rows, size, sort, total, lambda v: (listing.sort_value(v, query.sort_field), v.id))

    @blp.arguments(ScheduleCreate)
    @blp.response(201, ScheduleOut)
    @error_responses(blp, 400, 401, 429)
    def post(self, data: dict[str, Any]) -> listing.ScheduleView:
        """Create a schedule (cron or one-shot `execute_at`); `test_now` also queues a test delivery."""
        data = owner_from_caller(data, current_user_id(), creating=True)
        with transaction(get_pool()) as conn:
            return service.create_schedule(conn, get_settings(), current_organization_id(), data)


@blp.route("/<id:schedule_id>")
class ScheduleById(MethodView):
    @blp.response(200, ScheduleOut)
    @error_responses(blp, 400, 401, 404, 429)
    def get(self, schedule_id: str) -> listing.ScheduleView:
        """Read a schedule."""
        sid = parse_uuid(schedule_id, "schedule_id")
        with transaction(get_pool()) as conn:
            return service.view_of(conn, current_organization_id(), sid)

    @blp.arguments(ScheduleUpdate)
    @blp.response(200, ScheduleOut)
    @error_responses(blp, 400, 401, 404, 409, 429)
    def patch(self, data: dict[str, Any], schedule_id: str) -> listing.ScheduleView:
        """Change some fields; a new cron, execute_at or timezone recomputes next_run_time (409 for a one-shot
        that already fired: it cannot be re-armed)."""
        sid = parse_uuid(schedule_id, "schedule_id")
        data = owner_from_caller(data, current_user_id(), creating=False)
        with transaction(get_pool()) as conn:
            return service.update_schedule(conn, get_settings(), current_organization_id(), sid, data)

    @blp.response(204)
    @error_responses(blp, 400, 401, 404, 429)
    def delete(self, schedule_id: str) -> None:
        """Delete a schedule (soft: its runs stay on record; it never fires again)."""
        sid = parse_uuid(schedule_id, "schedule_id")
        with transaction(get_pool()) as conn:
            if not schedule_sql.soft_delete_schedule(conn, current_organization_id(), sid):
                raise service.not_found(sid)
