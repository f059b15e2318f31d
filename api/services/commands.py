"""Command operations inside the caller's transaction."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import psycopg

from shared.command_rules import check_command_config, check_filter_keys, result_keys
from shared.crypto import decrypt_secret, encrypt_secret
from shared.errors import Conflict, InvalidInput, NotFound
from shared.outbound import check_url
from shared.settings import Settings
from shared.sql import commands as command_sql
from shared.sql.data_sources import available_names


def not_found(command_id: object) -> NotFound:
    """The 404 for a command that is missing or belongs to another organization."""
    return NotFound(f"Command with id {command_id} does not exist")


def load_command(conn: psycopg.Connection, organization_id: UUID, command_id: UUID,
                 *, for_update: bool = False) -> command_sql.Command:
    """A live command of the organization; raises NotFound."""
    command = command_sql.get_command(conn, organization_id, command_id, for_update=for_update)
    if command is None:
        raise not_found(command_id)
    return command


def _config(conn: psycopg.Connection, settings: Settings, organization_id: UUID, kind: str,
            config: dict[str, Any]) -> dict[str, Any]:
    # The names the error may list are this organization's own and those granted to it, never another's.
    names = available_names(conn, organization_id, settings.data_sources) if kind == "sql" else []
    checked = check_command_config(kind, config, names)
    if kind == "http":
        check_url(checked["url"], settings.outbound_allowlist, field="config.url")
    return checked


def _secret_values(settings: Settings, kind: str, given: dict[str, Any], checked: dict[str, Any],
                   stored: dict[str, Any]) -> dict[str, Any]:
    # An http command's headers are credentials: encrypted at rest, never returned. Given ones replace the
    # stored ones ({} or null clears them); omitted ones carry over while the command stays http.
    public = dict(checked)
    headers = public.pop("headers", None) if kind == "http" else None
    if kind == "http" and "headers" not in given:
        headers = stored.get("headers")
    secrets = {"headers": headers} if headers else {}
    return {"config": public, "config_secret": encrypt_secret(settings.secret_key, secrets) if secrets else None}


def create_command(conn: psycopg.Connection, settings: Settings, organization_id: UUID,
                   data: dict[str, Any]) -> command_sql.Command:
    """Validate and insert a command (its secrets encrypted); raises InvalidInput."""
    config = _config(conn, settings, organization_id, data["kind"], data["config"])
    values = {"name": data["name"], "kind": data["kind"],
              **_secret_values(settings, data["kind"], data["config"], config, {}),
              "filter_keys": check_filter_keys(data["filter_keys"])}
    return command_sql.insert_command(conn, organization_id, values)


def update_command(conn: psycopg.Connection, settings: Settings, organization_id: UUID, command_id: UUID,
                   data: dict[str, Any]) -> command_sql.Command:
    """Apply a PATCH; keys still used by schedules cannot be removed; raises NotFound, InvalidInput."""
    current = load_command(conn, organization_id, command_id, for_update=True)
    values: dict[str, Any] = {k: data[k] for k in ("name",) if k in data}
    if "kind" in data or "config" in data:
        kind = data.get("kind", current.kind)
        if kind != current.kind and "config" not in data:
            raise InvalidInput("config: Missing data for required field (the kind changed)")
        given = data.get("config", current.config)
        config = _config(conn, settings, organization_id, kind, given)
        stored = decrypt_secret(settings.secret_key, command_sql.get_command_secret(conn, organization_id, command_id))
        values.update(kind=kind, **_secret_values(settings, kind, given, config,
                                                   stored if current.kind == kind else {}))
        _check_result_keys_kept(conn, organization_id, command_id, result_keys(kind, config))
    if "filter_keys" in data:
        keys = check_filter_keys(data["filter_keys"])
        used = sorted(command_sql.filter_keys_in_use(conn, organization_id, command_id) - set(keys))
        if used:
            raise InvalidInput(f"filter_keys: Cannot remove keys still used by schedules: {', '.join(used)}")
        values["filter_keys"] = keys
    updated = command_sql.update_command(conn, organization_id, command_id, values)
    assert updated is not None
    return updated


def _check_result_keys_kept(conn: psycopg.Connection, organization_id: UUID, command_id: UUID,
                            keys: list[str]) -> None:
    # Like filter keys: a result a schedule delivers by its query_key stays until the schedule lets go of it.
    dropped = sorted(command_sql.result_keys_in_use(conn, organization_id, command_id) - set(keys))
    if dropped:
        raise InvalidInput(f"config.result_keys: Cannot remove results still delivered by schedules (their "
                           f"query_key): {', '.join(dropped)}")


def delete_command(conn: psycopg.Connection, organization_id: UUID, command_id: UUID) -> None:
    """Soft-delete a command no live schedule runs; raises NotFound, Conflict."""
    load_command(conn, organization_id, command_id, for_update=True)
    in_use = command_sql.count_live_schedules(conn, organization_id, command_id)
    if in_use:
        raise Conflict(f"Command is used by {in_use} schedule(s); delete them or point them elsewhere first")
    command_sql.soft_delete_command(conn, organization_id, command_id)
