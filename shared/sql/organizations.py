"""SQL for organizations and their API tokens."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

import psycopg
from psycopg.rows import class_row

from shared.tokens import generate_token, hash_token


@dataclass(frozen=True)
class Organization:
    id: UUID
    name: str
    created_at: datetime


@dataclass(frozen=True)
class ApiToken:
    id: UUID
    organization_id: UUID
    name: str
    token_prefix: str
    created_at: datetime
    revoked_at: datetime | None


_TOKEN_COLUMNS = "id, organization_id, name, token_prefix, created_at, revoked_at"


def create_organization(conn: psycopg.Connection, name: str) -> Organization:
    """Insert an organization and return it."""
    with conn.cursor(row_factory=class_row(Organization)) as cur:
        cur.execute("INSERT INTO organizations (name) VALUES (%s) RETURNING id, name, created_at", (name,))
        row = cur.fetchone()
    assert row is not None
    return row


def get_organization(conn: psycopg.Connection, organization_id: UUID) -> Organization | None:
    """Return the organization or None."""
    with conn.cursor(row_factory=class_row(Organization)) as cur:
        cur.execute("SELECT id, name, created_at FROM organizations WHERE id = %s", (organization_id,))
        return cur.fetchone()


def create_token(conn: psycopg.Connection, organization_id: UUID, name: str) -> tuple[ApiToken, str]:
    """Create a token for the organization; return its row and the plaintext (shown once)."""
    token = generate_token()
    with conn.cursor(row_factory=class_row(ApiToken)) as cur:
        cur.execute(
            f"""INSERT INTO api_tokens (organization_id, name, token_hash, token_prefix)
                VALUES (%s, %s, %s, %s) RETURNING {_TOKEN_COLUMNS}""",
            (organization_id, name, hash_token(token), token[:10]),
        )
        row = cur.fetchone()
    assert row is not None
    return row, token


def find_active_token(conn: psycopg.Connection, token: str) -> ApiToken | None:
    """Return the unrevoked token matching the plaintext, or None."""
    with conn.cursor(row_factory=class_row(ApiToken)) as cur:
        cur.execute(
            f"SELECT {_TOKEN_COLUMNS} FROM api_tokens WHERE token_hash = %s AND revoked_at IS NULL",
            (hash_token(token),),
        )
        return cur.fetchone()


def revoke_token(conn: psycopg.Connection, organization_id: UUID, token_id: UUID) -> bool:
    """Revoke a token of the organization; return whether one was revoked."""
    cur = conn.execute(
        "UPDATE api_tokens SET revoked_at = now() WHERE id = %s AND organization_id = %s AND revoked_at IS NULL",
        (token_id, organization_id),
    )
    return cur.rowcount == 1
