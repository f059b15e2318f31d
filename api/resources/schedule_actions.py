"""Schedule actions: pause, resume, trigger, test delivery, recipients, and its runs."""

from __future__ import annotations

from typing import Any

from api.auth import current_organization_id
from api.db import get_pool, get_settings
from api.docs import ApiBlueprint, error_responses
from api.paging import build_page, keyset, read_cursor
from api.params import parse_uuid
from api.schemas.runs import RunListArgs, RunPage
from api.schemas.schedules import RecipientsAdded, RecipientsIn, RecipientsRemoved, ScheduleOut, Success
from api.services import quotas, recipients
from api.services import schedules as service
from shared.db import transaction
from shared.sql import runs as run_sql
from shared.sql.schedule_listing import ScheduleView

blp = ApiBlueprint("schedule_actions", __name__, url_prefix="/v1/schedules", description="Schedule actions")


@blp.route("/<id:schedule_id>/pause", methods=["PUT"])
@blp.response(200, ScheduleOut)
@error_responses(blp, 400, 404)
def pause(schedule_id: str) -> ScheduleView:
    """Pause: no slot fires until resumed; next_run_time shows null meanwhile (400 `Schedule is already paused`,
    400 `Schedule is system disabled`)."""
    sid = parse_uuid(schedule_id, "schedule_id")
    with transaction(get_pool()) as conn:
        return service.pause(conn, current_organization_id(), sid)


@blp.route("/<id:schedule_id>/resume", methods=["PUT"])
@blp.response(200, ScheduleOut)
@error_responses(blp, 400, 404)
def resume(schedule_id: str) -> ScheduleView:
    """Resume from now: next_run_time is the next slot after now, missed slots are not replayed (400 `Schedule is
    already resumed`, 400 `Schedule is system disabled`: PATCH `enabled: true` takes it back)."""
    sid = parse_uuid(schedule_id, "schedule_id")
    with transaction(get_pool()) as conn:
        return service.resume(conn, current_organization_id(), sid)


@blp.route("/<id:schedule_id>/trigger", methods=["POST"])
@blp.response(200, Success)
@error_responses(blp, 400, 404)
def trigger(schedule_id: str) -> dict[str, bool]:
    """Fire a schedule now (a run beat publishes at once); 429 past PUNCTUAL_QUOTA_RUNS_TRIGGERED_PER_HOUR."""
    sid = parse_uuid(schedule_id, "schedule_id")
    with transaction(get_pool()) as conn:
        service.trigger(conn, get_settings(), current_organization_id(), sid, test=False)
    return {"success": True}


@blp.route("/<id:schedule_id>/test", methods=["POST"])
@blp.response(200, Success)
@error_responses(blp, 400, 404)
def test_delivery(schedule_id: str) -> dict[str, bool]:
    """Send a test delivery now: marked as a test, it leaves last_run_time and last_status alone."""
    sid = parse_uuid(schedule_id, "schedule_id")
    with transaction(get_pool()) as conn:
        service.trigger(conn, get_settings(), current_organization_id(), sid, test=True)
    return {"success": True}


@blp.route("/<id:schedule_id>/add-recipients", methods=["PUT"])
@blp.arguments(RecipientsIn)
@blp.response(200, RecipientsAdded)
@error_responses(blp, 400, 404)
def add_recipients(data: dict[str, Any], schedule_id: str) -> dict[str, Any]:
    """Subscribe members by id and addresses (unknown addresses become email-only users)."""
    sid = parse_uuid(schedule_id, "schedule_id")
    with transaction(get_pool()) as conn:
        schedule = service.load_schedule(conn, current_organization_id(), sid, for_update=True)
        added = recipients.add_recipients(conn, schedule, recipients.parse_recipients(data))
        quotas.check_recipients(conn, get_settings(), schedule.organization_id, sid)
    return {"added_recipients_count": added, "success": True}


@blp.route("/<id:schedule_id>/remove-recipients", methods=["PUT"])
@blp.arguments(RecipientsIn)
@blp.response(200, RecipientsRemoved)
@error_responses(blp, 400, 404)
def remove_recipients(data: dict[str, Any], schedule_id: str) -> dict[str, Any]:
    """Unsubscribe members by id and by address."""
    sid = parse_uuid(schedule_id, "schedule_id")
    with transaction(get_pool()) as conn:
        schedule = service.load_schedule(conn, current_organization_id(), sid, for_update=True)
        removed = recipients.remove_recipients(conn, schedule, recipients.parse_recipients(data))
    return {"removed_recipients_count": removed, "success": True}


@blp.route("/<id:schedule_id>/runs", methods=["GET"])
@blp.arguments(RunListArgs, location="query")
@blp.response(200, RunPage)
@error_responses(blp, 400, 404)
def list_runs(args: dict[str, Any], schedule_id: str) -> dict[str, Any]:
    """A schedule's runs, newest slot first, in keyset pages."""
    sid = parse_uuid(schedule_id, "schedule_id")
    org = current_organization_id()
    size, cursor = read_cursor(args, "runs:scheduled_for:desc")
    with transaction(get_pool()) as conn:
        service.load_schedule(conn, org, sid)
        rows = run_sql.list_runs(conn, org, sid, limit=size + 1, before=keyset(cursor))
        total = cursor.total if cursor and cursor.total is not None else run_sql.count_runs(conn, org, sid)
    return build_page(rows, size, "runs:scheduled_for:desc", total, lambda r: (r.scheduled_for, r.id))
