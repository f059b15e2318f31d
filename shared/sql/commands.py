"""SQL for commands: what a schedule runs (kind, config, declared filter keys)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any
from uuid import UUID

import psycopg
from psycopg.rows import class_row
from psycopg.types.json import Jsonb


@dataclass(frozen=True)
class Command:
    id: UUID
    organization_id: UUID
    name: str
    kind: str
    config: dict[str, Any]
    filter_keys: list[str]
    created_at: datetime
    updated_at: datetime
    has_secret: bool = False  # whether config_secret holds anything (http: the headers)


# The encrypted secrets themselves are never read with the command: only whether there are any.
COMMAND_COLUMNS = ", ".join(f.name for f in fields(Command) if f.name != "has_secret") + \
    ", config_secret IS NOT NULL AS has_secret"
_WRITABLE = frozenset({"name", "kind", "config", "config_secret", "filter_keys"})


def _adapt(column: str, value: Any) -> Any:
    return Jsonb(value) if column == "config" else value


def insert_command(conn: psycopg.Connection, organization_id: UUID, values: dict[str, Any]) -> Command:
    """Insert a command and return it; raises ValueError on an unknown column."""
    if set(values) - _WRITABLE:
        raise ValueError(f"not writable: {sorted(set(values) - _WRITABLE)}")
    columns = ["organization_id", *values]
    params = [organization_id, *(_adapt(c, v) for c, v in values.items())]
    with conn.cursor(row_factory=class_row(Command)) as cur:
        cur.execute(
            f"""INSERT INTO commands ({", ".join(columns)}) VALUES ({", ".join(["%s"] * len(columns))})
                RETURNING {COMMAND_COLUMNS}""",
            params,
        )
        row = cur.fetchone()
    assert row is not None
    return row


def get_command(conn: psycopg.Connection, organization_id: UUID, command_id: UUID,
                *, for_update: bool = False) -> Command | None:
    """Return a live command of the organization, or None."""
    lock = " FOR UPDATE" if for_update else ""
    with conn.cursor(row_factory=class_row(Command)) as cur:
        cur.execute(
            f"""SELECT {COMMAND_COLUMNS} FROM commands
                WHERE id = %s AND organization_id = %s AND deleted_at IS NULL{lock}""",
            (command_id, organization_id),
        )
        return cur.fetchone()


def get_command_secret(conn: psycopg.Connection, organization_id: UUID, command_id: UUID) -> bytes | None:
    """The command's encrypted secrets (decrypt with shared.crypto), or None."""
    row = conn.execute("SELECT config_secret FROM commands WHERE id = %s AND organization_id = %s",
                       (command_id, organization_id)).fetchone()
    return bytes(row[0]) if row and row[0] is not None else None


def list_plaintext_header_commands(conn: psycopg.Connection) -> list[tuple[UUID, dict[str, Any], bytes | None]]:
    """Every http command (of any organization) whose config still holds its headers in plaintext, locked:
    (id, config, config_secret). For the one-time move of headers into the encrypted secrets."""
    rows = conn.execute(
        """SELECT id, config, config_secret FROM commands WHERE kind = 'http' AND config ? 'headers'
           ORDER BY id FOR UPDATE"""
    ).fetchall()
    return [(r[0], r[1], bytes(r[2]) if r[2] is not None else None) for r in rows]


def store_command_secret(conn: psycopg.Connection, command_id: UUID, config: dict[str, Any],
                         config_secret: bytes | None) -> None:
    """Overwrite a command's config and encrypted secrets (any organization: for migrations only)."""
    conn.execute("UPDATE commands SET config = %s, config_secret = %s WHERE id = %s",
                 (Jsonb(config), config_secret, command_id))


def update_command(conn: psycopg.Connection, organization_id: UUID, command_id: UUID,
                   values: dict[str, Any]) -> Command | None:
    """Update a live command; return it, or None if it does not exist."""
    if set(values) - _WRITABLE:
        raise ValueError(f"not writable: {sorted(set(values) - _WRITABLE)}")
    assignments = "".join(f"{c} = %s, " for c in values)
    with conn.cursor(row_factory=class_row(Command)) as cur:
        cur.execute(
            f"""UPDATE commands SET {assignments}updated_at = now()
                WHERE id = %s AND organization_id = %s AND deleted_at IS NULL RETURNING {COMMAND_COLUMNS}""",
            [*(_adapt(c, v) for c, v in values.items()), command_id, organization_id],
        )
        return cur.fetchone()


def soft_delete_command(conn: psycopg.Connection, organization_id: UUID, command_id: UUID) -> bool:
    """Mark a command deleted; return whether one was."""
    cur = conn.execute(
        """UPDATE commands SET deleted_at = now(), updated_at = now()
           WHERE id = %s AND organization_id = %s AND deleted_at IS NULL""",
        (command_id, organization_id),
    )
    return cur.rowcount == 1


def count_live_schedules(conn: psycopg.Connection, organization_id: UUID, command_id: UUID) -> int:
    """How many live schedules run this command."""
    row = conn.execute(
        "SELECT count(*) FROM schedules WHERE organization_id = %s AND command_id = %s AND deleted_at IS NULL",
        (organization_id, command_id),
    ).fetchone()
    assert row is not None
    return int(row[0])


def list_commands(conn: psycopg.Connection, organization_id: UUID, *, limit: int,
                  after: tuple[datetime, UUID] | None = None) -> list[Command]:
    """Live commands, oldest first, keyset-paged after (created_at, id)."""
    keyset = "AND (created_at, id) > (%s, %s)" if after else ""
    with conn.cursor(row_factory=class_row(Command)) as cur:
        cur.execute(
            f"""SELECT {COMMAND_COLUMNS} FROM commands
                WHERE organization_id = %s AND deleted_at IS NULL {keyset}
                ORDER BY created_at, id LIMIT %s""",
            [organization_id, *(after or ()), limit],
        )
        return cur.fetchall()


def count_commands(conn: psycopg.Connection, organization_id: UUID) -> int:
    """How many live commands the organization has."""
    row = conn.execute("SELECT count(*) FROM commands WHERE organization_id = %s AND deleted_at IS NULL",
                       (organization_id,)).fetchone()
    assert row is not None
    return int(row[0])


def filter_keys_in_use(conn: psycopg.Connection, organization_id: UUID, command_id: UUID) -> set[str]:
    """Filter keys that live schedules of this command set."""
    rows = conn.execute(
        """SELECT DISTINCT jsonb_object_keys(filters) FROM schedules
           WHERE organization_id = %s AND command_id = %s AND deleted_at IS NULL""",
        (organization_id, command_id),
    ).fetchall()
    return {r[0] for r in rows}


def result_keys_in_use(conn: psycopg.Connection, organization_id: UUID, command_id: UUID) -> set[str]:
    """Result keys that live schedules of this command deliver (their query_key)."""
    rows = conn.execute(
        """SELECT DISTINCT query_key FROM schedules
           WHERE organization_id = %s AND command_id = %s AND deleted_at IS NULL AND query_key IS NOT NULL""",
        (organization_id, command_id),
    ).fetchall()
    return {r[0] for r in rows}


@dataclass(frozen=True)
class CommandToRun:
    """A command as a worker runs it: with its encrypted secrets."""
    id: UUID
    organization_id: UUID
    kind: str
    config: dict[str, Any]
    config_secret: bytes | None


def get_commands_to_run(conn: psycopg.Connection, keys: Sequence[tuple[UUID, UUID]]) -> dict[UUID, CommandToRun]:
    """Live commands by (organization_id, command_id), keyed by id; one of another organization is left out."""
    if not keys:
        return {}
    with conn.cursor(row_factory=class_row(CommandToRun)) as cur:
        cur.execute(
            """SELECT c.id, c.organization_id, c.kind, c.config, c.config_secret
               FROM commands c JOIN unnest(%b::uuid[], %b::uuid[]) AS k(org, id)
                 ON c.organization_id = k.org AND c.id = k.id
               WHERE c.deleted_at IS NULL""",
            ([k[0] for k in keys], [k[1] for k in keys]),
        )
        return {c.id: c for c in cur.fetchall()}
