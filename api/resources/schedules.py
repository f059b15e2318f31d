"""Schedules: create, read, trigger, and their runs."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint

from api.auth import current_organization_id
from api.db import get_pool, get_settings
from api.params import parse_uuid
from api.schemas.schedules import RunPage, ScheduleCreate, ScheduleOut, Success
from shared.cron import validate_execute_at, validate_schedule
from shared.crypto import encrypt_secret
from shared.db import transaction
from shared.errors import InvalidInput, NotFound
from shared.outbound import check_url
from shared.sql import runs as run_sql
from shared.sql import schedules as schedule_sql

blp = Blueprint("schedules", __name__, url_prefix="/v1/schedules", description="Schedules")


def _not_found(schedule_id: object) -> NotFound:
    return NotFound(f"Schedule with id {schedule_id} does not exist")


def schedule_values(data: dict[str, Any], now: datetime) -> dict[str, Any]:
    """Turn a loaded create body into column values; raises InvalidInput."""
    settings = get_settings()
    destination = dict(data["destination"])
    secret = destination.pop("secret", None)
    if destination["type"] in ("webhook", "slack"):
        if not destination.get("url"):
            raise InvalidInput("destination.url: Missing data for required field.")
        check_url(destination["url"], settings.outbound_allowlist, field="destination.url")
    values: dict[str, Any] = {
        "name": data["name"], "timezone": data["timezone"], "enabled": data["enabled"],
        "run_mode": data["run_mode"], "fan_out": data["fan_out"], "format": data["format"],
        "misfire_policy": data["misfire_policy"], "destination_type": destination.pop("type"),
        "destination": {k: v for k, v in destination.items() if v is not None},
        "destination_secret": encrypt_secret(settings.secret_key, {"secret": secret}) if secret else None,
    }
    if data.get("retry"):
        values.update(retry_max_attempts=data["retry"]["max_attempts"],
                      retry_base_delay_s=data["retry"]["base_delay_s"],
                      retry_max_delay_s=data["retry"]["max_delay_s"])
    if data.get("execute_at") and data.get("cron_expression"):
        raise InvalidInput("cron_expression: give either cron_expression or execute_at, not both")
    if data.get("execute_at"):
        at = validate_execute_at(data["execute_at"], now)
        values.update(kind="one_shot", execute_at=at, next_run_at=at)
    elif data.get("cron_expression"):
        first = validate_schedule(data["cron_expression"], data["timezone"], now)
        values.update(kind="cron", cron_expression=data["cron_expression"], next_run_at=first)
    else:
        raise InvalidInput("cron_expression: Missing data for required field.")
    return values


@blp.route("")
class Schedules(MethodView):
    @blp.arguments(ScheduleCreate)
    @blp.response(201, ScheduleOut)
    def post(self, data: dict[str, Any]) -> schedule_sql.Schedule:
        """Create a schedule."""
        values = schedule_values(data, datetime.now(UTC))
        with transaction(get_pool()) as conn:
            schedule = schedule_sql.insert_schedule(conn, current_organization_id(), values)
            schedule_sql.notify_beat(conn)
        return schedule


@blp.route("/<schedule_id>")
class ScheduleById(MethodView):
    @blp.response(200, ScheduleOut)
    def get(self, schedule_id: str) -> schedule_sql.Schedule:
        """Read a schedule."""
        sid = parse_uuid(schedule_id, "schedule_id")
        with transaction(get_pool()) as conn:
            schedule = schedule_sql.get_schedule(conn, current_organization_id(), sid)
        if schedule is None:
            raise _not_found(sid)
        return schedule


@blp.route("/<schedule_id>/trigger", methods=["POST"])
@blp.response(200, Success)
def trigger(schedule_id: str) -> dict[str, bool]:
    """Fire a schedule now (a run beat publishes at once)."""
    sid = parse_uuid(schedule_id, "schedule_id")
    org = current_organization_id()
    with transaction(get_pool()) as conn:
        if schedule_sql.get_schedule(conn, org, sid) is None:
            raise _not_found(sid)
        run_sql.insert_triggered_run(conn, org, sid, trigger="manual")
        schedule_sql.notify_beat(conn)
    return {"success": True}


@blp.route("/<schedule_id>/runs", methods=["GET"])
@blp.response(200, RunPage)
def list_runs(schedule_id: str) -> dict[str, Any]:
    """List a schedule's runs, newest first."""
    sid = parse_uuid(schedule_id, "schedule_id")
    org = current_organization_id()
    with transaction(get_pool()) as conn:
        if schedule_sql.get_schedule(conn, org, sid) is None:
            raise _not_found(sid)
        runs = run_sql.list_runs(conn, org, sid, limit=100)
    return {"records": runs, "next_cursor": None}
