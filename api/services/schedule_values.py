"""Turn a schedule body into column values: timing, destination (secrets encrypted), format, filters."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any
from uuid import UUID

import psycopg

from shared.command_rules import result_keys
from shared.cron import SlotRules, next_fire_time, validate_execute_at, validate_schedule, validate_timezone
from shared.crypto import decrypt_secret, encrypt_secret
from shared.errors import BadState, InvalidInput
from shared.outbound import check_url
from shared.schedule_rules import (
    check_filters,
    check_format_options,
    check_results,
    check_retry,
    check_row_limits,
    destination_or_default,
    merge_secrets,
    missing_members_error,
    parse_user_ids,
    split_destination,
)
from shared.settings import Settings
from shared.slack_urls import mask_slack_url
from shared.sql import commands as command_sql
from shared.sql import schedules as schedule_sql
from shared.sql import users as user_sql

_PLAIN = ("name", "enabled", "run_mode", "fan_out", "misfire_policy", "command_id", "created_by_user_id")


def timing_values(cron_expression: str | None, execute_at: str | None, timezone: str,
                  now: datetime, slots: SlotRules) -> dict[str, Any]:
    """kind, cron_expression/execute_at and the first next_run_at; raises InvalidInput."""
    validate_timezone(timezone)
    if execute_at and cron_expression:
        raise InvalidInput("cron_expression: Give either cron_expression or execute_at, not both")
    if execute_at:
        at = validate_execute_at(execute_at, now, slots)
        return {"kind": "one_shot", "execute_at": at, "cron_expression": None, "next_run_at": at}
    if cron_expression:
        first = validate_schedule(cron_expression, timezone, now)
        return {"kind": "cron", "cron_expression": cron_expression, "execute_at": None, "next_run_at": first}
    raise InvalidInput("cron_expression: Missing data for required field (or give execute_at)")


def destination_values(settings: Settings, data: Mapping[str, Any], stored_secret: dict[str, Any] | None = None,
                       stored_kind: str | None = None) -> dict[str, Any]:
    """destination_type, public destination and encrypted secrets; raises InvalidInput."""
    destination = split_destination(data)
    url = destination.public.get("url") or destination.secrets.get("url")
    if url:
        check_url(url, settings.outbound_allowlist, field="destination.url")
    secrets = merge_secrets(destination.type, destination.secrets, stored_secret or {}, stored_kind or "")
    if destination.type == "sftp" and not secrets:
        raise InvalidInput("destination.password: Either password or private_key is required for sftp")
    public = destination.public
    if destination.type == "slack":
        if not secrets.get("url"):
            raise InvalidInput("destination.url: Missing data for required field.")
        public = {**public, "masked_url": mask_slack_url(secrets["url"])}
    return {
        "destination_type": destination.type,
        "destination": public,
        "destination_secret": encrypt_secret(settings.secret_key, secrets) if secrets else None,
    }


def check_references(conn: psycopg.Connection, organization_id: UUID, values: dict[str, Any],
                     filters: dict[str, Any]) -> command_sql.Command | None:
    """The command (returned) and owner exist in the organization and the filters fit the command;
    raises InvalidInput."""
    filter_keys: list[str] = []
    command = None
    if values.get("command_id") is not None:
        command = command_sql.get_command(conn, organization_id, values["command_id"])
        if command is None:
            raise InvalidInput(f"command_id: Command with id {values['command_id']} does not exist")
        filter_keys = command.filter_keys
    owner = values.get("created_by_user_id")
    if owner is not None and not user_sql.existing_user_ids(conn, organization_id, [owner]):
        raise InvalidInput(f"created_by_user_id: User with id {owner} does not exist")
    values["filters"] = check_filters(filters, filter_keys)
    return command


def subscriber_ids(conn: psycopg.Connection, organization_id: UUID, raw: list[Any] | None) -> list[UUID]:
    """Parsed subscriber ids that all belong to the organization; raises InvalidInput."""
    ids = parse_user_ids(raw or [], "subscriber_user_ids")
    missing = [i for i in ids if i not in user_sql.existing_user_ids(conn, organization_id, ids)]
    if missing:
        raise missing_members_error(missing)
    return ids


def create_values(settings: Settings, data: dict[str, Any], now: datetime) -> dict[str, Any]:
    """Column values for a new schedule (before reference checks; a null name is the command's); raises InvalidInput."""
    if data.get("name") is None and data.get("command_id") is None:
        raise InvalidInput("name: Missing data for required field. Give a name, or a command_id to name the "
                           "schedule after its command")
    values = {k: data[k] for k in _PLAIN if k in data and data[k] is not None}
    values.update(timing_values(data.get("cron_expression"), data.get("execute_at"), data["timezone"], now,
                                settings.send_slots))
    values["timezone"] = data["timezone"]
    destination = destination_or_default(data.get("destination"), data.get("subscriber_user_ids"))
    values.update(destination_values(settings, destination))
    values["format"] = data["format"]
    values["format_options"] = check_format_options(data["format"], data.get("format_options") or {})
    values["alert_condition"] = (data.get("alert") or {}).get("condition")
    values.update(_retry_values(data.get("retry")))
    values["query_key"] = data.get("query_key")
    check_row_limits(data.get("max_row_limit"), data["override_row_limit"])
    values.update(max_row_limit=data.get("max_row_limit"), override_row_limit=data["override_row_limit"])
    return values


def check_delivered_results(command: command_sql.Command | None, values: Mapping[str, Any]) -> None:
    """The schedule's query_key is one of its command's results, and its format options fit what it delivers;
    raises InvalidInput. `values` holds query_key, format and format_options."""
    keys = result_keys(command.kind, command.config) if command is not None else []
    check_results(values["query_key"], keys, values["format"], values["format_options"])


def _retry_values(retry: dict[str, Any] | None) -> dict[str, Any]:
    if not retry:
        return {}
    check_retry(retry["max_attempts"], retry["base_delay_s"], retry["max_delay_s"])
    return {"retry_max_attempts": retry["max_attempts"], "retry_base_delay_s": retry["base_delay_s"],
            "retry_max_delay_s": retry["max_delay_s"]}


def _timing_update(current: schedule_sql.Schedule, data: dict[str, Any], now: datetime,
                   slots: SlotRules) -> dict[str, Any]:
    timezone = data["timezone"] if "timezone" in data else current.timezone
    if data.get("execute_at") or data.get("cron_expression"):
        return {"timezone": timezone, **timing_values(data.get("cron_expression"), data.get("execute_at"),
                                                      timezone, now, slots)}
    if "execute_at" in data or "cron_expression" in data:
        raise InvalidInput("cron_expression: Missing data for required field (or give execute_at)")
    if "timezone" in data and current.kind == "cron" and current.cron_expression:
        return {"timezone": timezone, **timing_values(current.cron_expression, None, timezone, now, slots)}
    if "timezone" in data:
        validate_timezone(timezone)
        return {"timezone": timezone}
    reenabled = data.get("enabled") and (not current.enabled or current.system_disabled_at is not None)
    if reenabled and current.kind == "cron" and current.cron_expression:
        # Re-enabling starts from now, like resume: the slots missed while disabled are not owed.
        return {"next_run_at": next_fire_time(current.cron_expression, current.timezone, now)}
    return {}


def check_not_rearmed(current: schedule_sql.Schedule, data: Mapping[str, Any]) -> None:
    """A one-shot that already fired keeps its one slot; raises BadState (409) naming its state when the body
    would give it another (a new execute_at, or a cron expression)."""
    if current.kind != "one_shot" or current.done_at is None:
        return
    if data.get("execute_at") is None and data.get("cron_expression") is None:
        return
    fired = (current.last_run_at or current.execute_at or current.done_at).isoformat()
    field = "execute_at" if data.get("execute_at") is not None else "cron_expression"
    raise BadState(f"{field}: Schedule is a one-shot that already fired (slot {fired}); it cannot be re-armed. "
                   "Create a new schedule")


def update_values(settings: Settings, conn: psycopg.Connection, current: schedule_sql.Schedule,
                  data: dict[str, Any], now: datetime) -> dict[str, Any]:
    """Changed column values for a PATCH; next_run_at is recomputed when timing changes."""
    values = {k: data[k] for k in _PLAIN if k in data}
    for key in ("name", "enabled", "run_mode", "fan_out", "misfire_policy"):
        if key in values and values[key] is None:
            raise InvalidInput(f"{key}: Field may not be null.")
    check_not_rearmed(current, data)
    values.update(_timing_update(current, data, now, settings.send_slots))
    if values.get("next_run_at") is not None:
        # A new slot (a cron that had run out, given a new expression) is a schedule that may fire again.
        values["done_at"] = None
    if "destination" in data:
        stored = decrypt_secret(settings.secret_key, schedule_sql.get_destination_secret(
            conn, current.organization_id, current.id))
        values.update(destination_values(settings, data["destination"], stored, current.destination_type))
    fmt = data.get("format") or current.format
    if "format" in data or "format_options" in data:
        options = data.get("format_options") if "format_options" in data else current.format_options
        values["format"] = fmt
        values["format_options"] = check_format_options(fmt, options or {})
    if "alert" in data:
        values["alert_condition"] = (data["alert"] or {}).get("condition")
    values.update(_retry_values(data.get("retry")))
    if "query_key" in data:
        values["query_key"] = data["query_key"]
    if "max_row_limit" in data or "override_row_limit" in data:
        max_rows = data["max_row_limit"] if "max_row_limit" in data else current.max_row_limit
        override = data["override_row_limit"] if "override_row_limit" in data else current.override_row_limit
        check_row_limits(max_rows, override)
        values.update(max_row_limit=max_rows, override_row_limit=override)
    return values


def owner_from_caller(data: dict[str, Any], caller_user_id: UUID | None, *, creating: bool) -> dict[str, Any]:
    """The body with created_by_user_id from a user's token (set when a create omits it); raises InvalidInput
    when the body names another owner. Organization-wide tokens may name any member, or none."""
    if caller_user_id is None:
        return data
    if "created_by_user_id" not in data:
        return {**data, "created_by_user_id": caller_user_id} if creating else data
    if data["created_by_user_id"] != caller_user_id:
        raise InvalidInput(f"created_by_user_id: Must be the token's own user ({caller_user_id}) or omitted")
    return data
