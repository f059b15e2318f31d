"""SQL for data sources: an organization's own PostgreSQL sources for sql commands (URL encrypted)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any
from uuid import UUID

import psycopg
from psycopg.rows import class_row

from shared.crypto import decrypt_secret
from shared.data_sources import DataSourceGrant


@dataclass(frozen=True)
class DataSource:
    id: UUID
    organization_id: UUID
    name: str
    display_url: str
    created_at: datetime
    updated_at: datetime


DATA_SOURCE_COLUMNS = ", ".join(f.name for f in fields(DataSource))
_WRITABLE = frozenset({"name", "url_secret", "display_url"})
MAX_PER_ORGANIZATION = 100


def insert_data_source(conn: psycopg.Connection, organization_id: UUID, *, name: str, url_secret: bytes,
                       display_url: str) -> DataSource | None:
    """Insert a data source; None when the organization has one of that name already."""
    with conn.cursor(row_factory=class_row(DataSource)) as cur:
        cur.execute(
            f"""INSERT INTO data_sources (organization_id, name, url_secret, display_url)
                VALUES (%s, %s, %s, %s) ON CONFLICT (organization_id, name) DO NOTHING
                RETURNING {DATA_SOURCE_COLUMNS}""",
            (organization_id, name, url_secret, display_url),
        )
        return cur.fetchone()


def get_data_source(conn: psycopg.Connection, organization_id: UUID, data_source_id: UUID,
                    *, for_update: bool = False) -> DataSource | None:
    """Return a data source of the organization, or None (another organization's id is None too)."""
    lock = " FOR UPDATE" if for_update else ""
    with conn.cursor(row_factory=class_row(DataSource)) as cur:
        cur.execute(f"SELECT {DATA_SOURCE_COLUMNS} FROM data_sources WHERE id = %s AND organization_id = %s{lock}",
                    (data_source_id, organization_id))
        return cur.fetchone()


def list_data_sources(conn: psycopg.Connection, organization_id: UUID) -> list[DataSource]:
    """Return the organization's data sources by name (at most MAX_PER_ORGANIZATION exist)."""
    with conn.cursor(row_factory=class_row(DataSource)) as cur:
        cur.execute(f"SELECT {DATA_SOURCE_COLUMNS} FROM data_sources WHERE organization_id = %s ORDER BY name, id",
                    (organization_id,))
        return cur.fetchall()


def count_data_sources(conn: psycopg.Connection, organization_id: UUID) -> int:
    """How many data sources the organization has."""
    row = conn.execute("SELECT count(*) FROM data_sources WHERE organization_id = %s", (organization_id,)).fetchone()
    return int(row[0]) if row else 0


def get_url_secret(conn: psycopg.Connection, organization_id: UUID, name: str) -> bytes | None:
    """Return the encrypted URL of the organization's data source of this name, or None."""
    row = conn.execute("SELECT url_secret FROM data_sources WHERE organization_id = %s AND name = %s",
                       (organization_id, name)).fetchone()
    return bytes(row[0]) if row else None


def update_data_source(conn: psycopg.Connection, organization_id: UUID, data_source_id: UUID,
                       values: dict[str, Any]) -> DataSource | None:
    """Set name, url_secret and display_url; None if missing; raises psycopg.errors.UniqueViolation on a taken name."""
    if set(values) - _WRITABLE:
        raise ValueError(f"not writable: {sorted(set(values) - _WRITABLE)}")
    if not values:
        return get_data_source(conn, organization_id, data_source_id)
    assignments = ", ".join(f"{column} = %s" for column in values)
    with conn.cursor(row_factory=class_row(DataSource)) as cur:
        cur.execute(
            f"""UPDATE data_sources SET {assignments}, updated_at = now()
                WHERE id = %s AND organization_id = %s RETURNING {DATA_SOURCE_COLUMNS}""",
            [*values.values(), data_source_id, organization_id],
        )
        return cur.fetchone()


def delete_data_source(conn: psycopg.Connection, organization_id: UUID, data_source_id: UUID) -> bool:
    """Delete a data source of the organization; return whether one was deleted."""
    cur = conn.execute("DELETE FROM data_sources WHERE id = %s AND organization_id = %s",
                       (data_source_id, organization_id))
    return cur.rowcount == 1


def count_commands_using(conn: psycopg.Connection, organization_id: UUID, name: str) -> int:
    """How many live sql commands of the organization name this data source."""
    row = conn.execute(
        """SELECT count(*) FROM commands WHERE organization_id = %s AND kind = 'sql' AND deleted_at IS NULL
             AND config->>'data_source' = %s""",
        (organization_id, name),
    ).fetchone()
    return int(row[0]) if row else 0


def available_names(conn: psycopg.Connection, organization_id: UUID,
                    grants: Mapping[str, DataSourceGrant]) -> list[str]:
    """Names of the data sources the organization may query: its own and those granted to it."""
    own = [d.name for d in list_data_sources(conn, organization_id)]
    return sorted({*own, *granted_names(organization_id, grants)})


def granted_names(organization_id: UUID, grants: Mapping[str, DataSourceGrant]) -> list[str]:
    """Names of the operator's data sources granted to the organization (pure)."""
    return sorted(name for name, grant in grants.items() if grant.granted_to(organization_id))


def resolve_url(conn: psycopg.Connection, organization_id: UUID, name: str, grants: Mapping[str, DataSourceGrant],
                secret_key: str) -> ResolvedSource | None:
    """The URL of a data source the organization may query, or None; raises ConfigError if it cannot be decrypted."""
    secret = get_url_secret(conn, organization_id, name)
    if secret is not None:
        url = str(decrypt_secret(secret_key, secret).get("url", ""))
        return ResolvedSource(name, url, owned=True)
    grant = grants.get(name)
    if grant is not None and grant.granted_to(organization_id):
        return ResolvedSource(name, grant.url, owned=False)
    return None


@dataclass(frozen=True)
class ResolvedSource:
    """A data source's URL as a command uses it; `owned` ones go through the outbound policy."""

    name: str
    url: str
    owned: bool

    def __repr__(self) -> str:  # the URL holds a password: never in a log line or a traceback
        return f"ResolvedSource(name={self.name!r}, owned={self.owned})"
