"""Schedule operations inside the caller's transaction: create, update, pause, resume, trigger, test."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import psycopg

from api.services import quotas
from api.services.schedule_values import (
    check_delivered_results,
    check_references,
    create_values,
    subscriber_ids,
    update_values,
)
from shared.cron import next_fire_time
from shared.errors import InvalidInput, NotFound
from shared.schedule_rules import check_test_supported
from shared.settings import Settings
from shared.sql import commands as command_sql
from shared.sql import runs as run_sql
from shared.sql import schedules as schedule_sql
from shared.sql.schedule_listing import ScheduleView, get_schedule_view


def not_found(schedule_id: object) -> NotFound:
    """The 404 for a schedule that is missing or belongs to another organization."""
    return NotFound(f"Schedule with id {schedule_id} does not exist")


def load_schedule(conn: psycopg.Connection, organization_id: UUID, schedule_id: UUID,
                  *, for_update: bool = False) -> schedule_sql.Schedule:
    """A live schedule of the organization; raises NotFound."""
    schedule = schedule_sql.get_schedule(conn, organization_id, schedule_id, for_update=for_update)
    if schedule is None:
        raise not_found(schedule_id)
    return schedule


def view_of(conn: psycopg.Connection, organization_id: UUID, schedule_id: UUID) -> ScheduleView:
    """The schedule as the API shows it; raises NotFound."""
    view = get_schedule_view(conn, organization_id, schedule_id)
    if view is None:
        raise not_found(schedule_id)
    return view


def create_schedule(conn: psycopg.Connection, settings: Settings, organization_id: UUID,
                    data: dict[str, Any]) -> ScheduleView:
    """Validate, insert, subscribe, optionally queue a test delivery, and wake beat; raises InvalidInput."""
    values = create_values(settings, data, datetime.now(UTC))
    if data.get("test_now"):
        check_test_supported(values["alert_condition"])
    command = check_references(conn, organization_id, values, data.get("filters") or {})
    check_delivered_results(command, values)
    if "name" not in values and command is not None:
        values["name"] = command.name  # Humm sends name: null; the command names the schedule
    subscribers = subscriber_ids(conn, organization_id, data.get("subscriber_user_ids"))
    quotas.check_recipient_count(settings, len(subscribers))
    quotas.reserve_schedule(conn, settings, organization_id)
    if data.get("test_now"):
        quotas.reserve_triggered_run(conn, settings, organization_id)
    schedule = schedule_sql.insert_schedule(conn, organization_id, values)
    if subscribers:
        schedule_sql.set_subscribers(conn, organization_id, schedule.id, subscribers)
    if data.get("test_now"):
        run_sql.insert_triggered_run(conn, organization_id, schedule.id, trigger="test", is_test=True)
    schedule_sql.notify_beat(conn)
    return view_of(conn, organization_id, schedule.id)


def create_command_schedule(conn: psycopg.Connection, settings: Settings, organization_id: UUID, command_id: UUID,
                            data: dict[str, Any]) -> ScheduleView:
    """Create a schedule that runs the command of the path; raises InvalidInput if the body names another."""
    if "command_id" in data and data["command_id"] != command_id:
        raise InvalidInput(f"command_id: Does not match the command of the path ({command_id}); "
                           "leave it out or give the same id")
    return create_schedule(conn, settings, organization_id, {**data, "command_id": command_id})


def update_schedule(conn: psycopg.Connection, settings: Settings, organization_id: UUID, schedule_id: UUID,
                    data: dict[str, Any]) -> ScheduleView:
    """Apply a PATCH (timing changes recompute next_run_at) and wake beat; raises NotFound, InvalidInput."""
    current = load_schedule(conn, organization_id, schedule_id, for_update=True)
    values = update_values(settings, conn, current, data, datetime.now(UTC))
    if "filters" in data or "command_id" in data:
        refs = {"command_id": values.get("command_id", current.command_id), **values}
        check_references(conn, organization_id, refs, data.get("filters", current.filters) or {})
        values["filters"] = refs["filters"]
    elif "created_by_user_id" in data:
        check_references(conn, organization_id, {**values, "command_id": None}, {})
    if {"command_id", "query_key", "format", "format_options"} & set(data):
        command_id = values.get("command_id", current.command_id)
        command = command_sql.get_command(conn, organization_id, command_id) if command_id is not None else None
        check_delivered_results(command, {key: values.get(key, getattr(current, key))
                                          for key in ("query_key", "format", "format_options")})
    if "subscriber_user_ids" in data:
        ids = subscriber_ids(conn, organization_id, data["subscriber_user_ids"])
        quotas.check_recipient_count(settings, len(ids))
        schedule_sql.remove_subscribers(conn, organization_id, schedule_id,
                                        schedule_sql.list_subscriber_ids(conn, schedule_id))
        schedule_sql.set_subscribers(conn, organization_id, schedule_id, ids)
    if data.get("enabled") and current.system_disabled_at is not None:
        # enabled: true is how a caller takes back a schedule beat disabled after repeated failures.
        schedule_sql.clear_system_disabled(conn, organization_id, schedule_id)
    schedule_sql.update_schedule(conn, organization_id, schedule_id, values)
    schedule_sql.notify_beat(conn)
    return view_of(conn, organization_id, schedule_id)


def pause(conn: psycopg.Connection, organization_id: UUID, schedule_id: UUID) -> ScheduleView:
    """Pause a schedule; raises NotFound, InvalidInput if already paused or system-disabled."""
    schedule = load_schedule(conn, organization_id, schedule_id, for_update=True)
    if schedule.system_disabled_at is not None:
        raise InvalidInput("Schedule is system disabled")
    if schedule.paused_at is not None:
        raise InvalidInput("Schedule is already paused")
    schedule_sql.pause_schedule(conn, organization_id, schedule_id)
    return view_of(conn, organization_id, schedule_id)


def resume(conn: psycopg.Connection, organization_id: UUID, schedule_id: UUID) -> ScheduleView:
    """Resume from now (missed slots are not owed); raises NotFound, InvalidInput if not paused or system-disabled."""
    schedule = load_schedule(conn, organization_id, schedule_id, for_update=True)
    if schedule.system_disabled_at is not None:
        raise InvalidInput("Schedule is system disabled")
    if schedule.paused_at is None:
        raise InvalidInput("Schedule is already resumed")
    if schedule.kind == "cron" and schedule.cron_expression:
        next_at = next_fire_time(schedule.cron_expression, schedule.timezone, datetime.now(UTC))
    else:
        # A one-shot that has not fired keeps its slot; beat's misfire policy judges it if it is past.
        next_at = schedule.execute_at if schedule.done_at is None else None
    schedule_sql.resume_schedule(conn, organization_id, schedule_id, next_at)
    schedule_sql.notify_beat(conn)
    return view_of(conn, organization_id, schedule_id)


def trigger(conn: psycopg.Connection, settings: Settings, organization_id: UUID, schedule_id: UUID, *,
            test: bool) -> None:
    """Queue a run due now (manual, or a test delivery that leaves last_run_time alone) and wake beat;
    raises NotFound, InvalidInput, RateLimited (the organization's triggered runs quota)."""
    schedule = load_schedule(conn, organization_id, schedule_id)
    if test:
        check_test_supported(schedule.alert_condition)
    quotas.reserve_triggered_run(conn, settings, organization_id)
    run_sql.insert_triggered_run(conn, organization_id, schedule_id, trigger="test" if test else "manual",
                                 is_test=test)
    schedule_sql.notify_beat(conn)
