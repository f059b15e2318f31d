"""SQL for organizations and their API tokens."""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import psycopg
from psycopg.rows import class_row

from shared.tokens import generate_token, hash_token

# last_used_at is written at most this often per token, so a busy token costs no write per request.
LAST_USED_RESOLUTION = timedelta(minutes=1)


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
    last_used_at: datetime | None
    expires_at: datetime | None
    revoked_at: datetime | None
    user_id: UUID | None

    def is_expired(self, now: datetime) -> bool:
        """Whether the token has passed its expiry (pure)."""
        return self.expires_at is not None and self.expires_at <= now


_TOKEN_COLUMNS = ", ".join(f.name for f in fields(ApiToken))


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


@dataclass(frozen=True)
class MessageGateway:
    """Where an organization's messages to phone numbers go: a signed webhook (the secret encrypted)."""
    organization_id: UUID
    url: str
    secret: bytes | None


def get_message_gateway(conn: psycopg.Connection, organization_id: UUID) -> MessageGateway | None:
    """The organization's message gateway, or None when it has none."""
    row = conn.execute("SELECT message_gateway_url, message_gateway_secret FROM organizations WHERE id = %s",
                       (organization_id,)).fetchone()
    if row is None or row[0] is None:
        return None
    return MessageGateway(organization_id, row[0], bytes(row[1]) if row[1] is not None else None)


def get_message_gateways(conn: psycopg.Connection, organization_ids: list[UUID]) -> dict[UUID, MessageGateway]:
    """The message gateways of these organizations (workers: a batch of deliveries), by organization."""
    rows = conn.execute(
        """SELECT id, message_gateway_url, message_gateway_secret FROM organizations
           WHERE id = ANY(%s) AND message_gateway_url IS NOT NULL""",
        (organization_ids,),
    ).fetchall()
    return {r[0]: MessageGateway(r[0], r[1], bytes(r[2]) if r[2] is not None else None) for r in rows}


def set_message_gateway(conn: psycopg.Connection, organization_id: UUID, url: str | None,
                        secret: bytes | None) -> None:
    """Set (or, with None, remove) the organization's message gateway; the secret comes encrypted."""
    conn.execute(
        """UPDATE organizations SET message_gateway_url = %s, message_gateway_secret = %s, updated_at = now()
           WHERE id = %s""",
        (url, secret, organization_id),
    )


def rename_organization(conn: psycopg.Connection, organization_id: UUID, name: str) -> None:
    """Set the organization's name."""
    conn.execute("UPDATE organizations SET name = %s, updated_at = now() WHERE id = %s", (name, organization_id))


def lock_organization(conn: psycopg.Connection, organization_id: UUID) -> None:
    """Hold the organization's row until the transaction ends, so quota checks of one organization run
    one at a time (two creates at the limit cannot both count below it)."""
    # NO KEY UPDATE, not UPDATE: it still excludes another quota check, but not the KEY SHARE lock every
    # insert referencing the organization takes, so beat and workers writing its runs never wait on it.
    conn.execute("SELECT 1 FROM organizations WHERE id = %s FOR NO KEY UPDATE", (organization_id,))


def create_token(conn: psycopg.Connection, organization_id: UUID, name: str, *,
                 expires_at: datetime | None = None, user_id: UUID | None = None) -> tuple[ApiToken, str]:
    """Create a token for the organization (optionally expiring, optionally a user's); return its row and the
    plaintext (shown once); raises psycopg.errors.ForeignKeyViolation for a user of another organization."""
    token = generate_token()
    with conn.cursor(row_factory=class_row(ApiToken)) as cur:
        cur.execute(
            f"""INSERT INTO api_tokens (organization_id, name, token_hash, token_prefix, expires_at, user_id)
                VALUES (%s, %s, %s, %s, %s, %s) RETURNING {_TOKEN_COLUMNS}""",
            (organization_id, name, hash_token(token), token[:10], expires_at, user_id),
        )
        row = cur.fetchone()
    assert row is not None
    return row, token


def find_token(conn: psycopg.Connection, token: str) -> ApiToken | None:
    """Return the token matching the plaintext, revoked or expired ones included, or None."""
    with conn.cursor(row_factory=class_row(ApiToken)) as cur:
        cur.execute(f"SELECT {_TOKEN_COLUMNS} FROM api_tokens WHERE token_hash = %s", (hash_token(token),))
        return cur.fetchone()


def touch_token(conn: psycopg.Connection, token_id: UUID) -> None:
    """Record that the token was used now (a no-op if it was recorded within LAST_USED_RESOLUTION)."""
    conn.execute(
        """UPDATE api_tokens SET last_used_at = now()
           WHERE id = %s AND (last_used_at IS NULL OR last_used_at < now() - %s)""",
        (token_id, LAST_USED_RESOLUTION),
    )


def get_token(conn: psycopg.Connection, token_id: UUID, organization_id: UUID | None = None) -> ApiToken | None:
    """Return the token (of the organization, when given), or None."""
    where, params = "id = %s", [token_id]
    if organization_id is not None:
        where += " AND organization_id = %s"
        params.append(organization_id)
    with conn.cursor(row_factory=class_row(ApiToken)) as cur:
        cur.execute(f"SELECT {_TOKEN_COLUMNS} FROM api_tokens WHERE {where}", params)
        return cur.fetchone()


def list_tokens(conn: psycopg.Connection, organization_id: UUID, *, limit: int,
                after: tuple[datetime, UUID] | None = None) -> list[ApiToken]:
    """The organization's tokens, revoked and expired ones included, oldest first, keyset-paged."""
    where = ["organization_id = %s"]
    params: list[Any] = [organization_id]
    if after:
        where.append("(created_at, id) > (%s, %s)")
        params.extend(after)
    with conn.cursor(row_factory=class_row(ApiToken)) as cur:
        cur.execute(
            f"""SELECT {_TOKEN_COLUMNS} FROM api_tokens WHERE {" AND ".join(where)}
                ORDER BY created_at, id LIMIT %s""",
            [*params, limit],
        )
        return cur.fetchall()


def count_tokens(conn: psycopg.Connection, organization_id: UUID) -> int:
    """How many tokens the organization has ever had (revoked and expired ones included)."""
    row = conn.execute("SELECT count(*) FROM api_tokens WHERE organization_id = %s", (organization_id,)).fetchone()
    assert row is not None
    return int(row[0])


def revoke_token(conn: psycopg.Connection, organization_id: UUID, token_id: UUID) -> bool:
    """Revoke a token of the organization; return whether one was revoked."""
    cur = conn.execute(
        "UPDATE api_tokens SET revoked_at = now() WHERE id = %s AND organization_id = %s AND revoked_at IS NULL",
        (token_id, organization_id),
    )
    return cur.rowcount == 1


def count_active_user_tokens(conn: psycopg.Connection, organization_id: UUID, user_id: UUID) -> int:
    """How many unrevoked, unexpired tokens act for this user."""
    row = conn.execute(
        """SELECT count(*) FROM api_tokens WHERE organization_id = %s AND user_id = %s AND revoked_at IS NULL
           AND (expires_at IS NULL OR expires_at > now())""",
        (organization_id, user_id),
    ).fetchone()
    assert row is not None
    return int(row[0])
