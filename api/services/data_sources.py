"""Data source operations inside the caller's transaction: URLs checked, encrypted, never returned."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import psycopg

from shared.crypto import encrypt_secret
from shared.data_sources import check_data_source_name, check_data_source_url, display_url, policy_host
from shared.errors import Conflict, InvalidInput, NotFound
from shared.outbound import resolve_allowed
from shared.settings import Settings
from shared.sql import data_sources as source_sql


def not_found(data_source_id: object) -> NotFound:
    """The 404 for a data source that is missing or belongs to another organization."""
    return NotFound(f"Data source with id {data_source_id} does not exist")


def _url_values(settings: Settings, url: str) -> dict[str, Any]:
    endpoint = check_data_source_url(url, settings.database_url)
    # Checked when saved, and again by the worker on the connection it opens.
    resolve_allowed(policy_host(endpoint), endpoint.port, settings.outbound_allowlist, field="url")
    return {"url_secret": encrypt_secret(settings.secret_key, {"url": url}), "display_url": display_url(endpoint)}


def _name(settings: Settings, organization_id: UUID, name: str) -> str:
    return check_data_source_name(name, source_sql.granted_names(organization_id, settings.data_sources))


def list_all(conn: psycopg.Connection, settings: Settings, organization_id: UUID) -> list[dict[str, Any]]:
    """The organization's own data sources and those granted to it, by name."""
    own = [{**vars(d), "owner": "organization"} for d in source_sql.list_data_sources(conn, organization_id)]
    granted = [{"id": None, "name": name, "owner": "granted", "display_url": None, "created_at": None,
                "updated_at": None} for name in source_sql.granted_names(organization_id, settings.data_sources)]
    return sorted([*own, *granted], key=lambda d: str(d["name"]))


def load(conn: psycopg.Connection, organization_id: UUID, data_source_id: UUID,
         *, for_update: bool = False) -> dict[str, Any]:
    """One of the organization's own data sources; raises NotFound."""
    row = source_sql.get_data_source(conn, organization_id, data_source_id, for_update=for_update)
    if row is None:
        raise not_found(data_source_id)
    return {**vars(row), "owner": "organization"}


def create(conn: psycopg.Connection, settings: Settings, organization_id: UUID, data: dict[str, Any]) -> dict[str, Any]:
    """Check and store a data source; raises InvalidInput, Conflict."""
    name = _name(settings, organization_id, data["name"])
    values = _url_values(settings, data["url"])
    if source_sql.count_data_sources(conn, organization_id) >= source_sql.MAX_PER_ORGANIZATION:
        raise InvalidInput(f"Quota: an organization has at most {source_sql.MAX_PER_ORGANIZATION} data sources")
    row = source_sql.insert_data_source(conn, organization_id, name=name, **values)
    if row is None:
        raise Conflict(f"name: A data source named {name} exists already")
    return {**vars(row), "owner": "organization"}


def update(conn: psycopg.Connection, settings: Settings, organization_id: UUID, data_source_id: UUID,
           data: dict[str, Any]) -> dict[str, Any]:
    """Rename a data source or replace its URL; raises NotFound, InvalidInput, Conflict."""
    current = load(conn, organization_id, data_source_id, for_update=True)
    values: dict[str, Any] = {}
    if "url" in data:
        values.update(_url_values(settings, data["url"]))
    if "name" in data and data["name"] != current["name"]:
        values["name"] = _name(settings, organization_id, data["name"])
        used = source_sql.count_commands_using(conn, organization_id, current["name"])
        if used:
            raise Conflict(f"name: {used} command(s) use data source {current['name']}; point them elsewhere first")
    try:
        with conn.transaction():
            row = source_sql.update_data_source(conn, organization_id, data_source_id, values)
    except psycopg.errors.UniqueViolation:
        raise Conflict(f"name: A data source named {values.get('name')} exists already") from None
    assert row is not None
    return {**vars(row), "owner": "organization"}


def delete(conn: psycopg.Connection, organization_id: UUID, data_source_id: UUID) -> None:
    """Delete a data source no live command uses; raises NotFound, Conflict."""
    current = load(conn, organization_id, data_source_id, for_update=True)
    used = source_sql.count_commands_using(conn, organization_id, current["name"])
    if used:
        raise Conflict(f"Data source is used by {used} command(s); delete them or point them elsewhere first")
    source_sql.delete_data_source(conn, organization_id, data_source_id)
