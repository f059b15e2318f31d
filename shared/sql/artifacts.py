"""SQL for artifacts: the content a run produced, stored once with its sha256."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

import psycopg
from psycopg.rows import class_row


@dataclass(frozen=True)
class ArtifactRow:
    id: UUID
    content_type: str
    filename: str
    sha256: str
    body: bytes


def insert_artifact(conn: psycopg.Connection, organization_id: UUID, run_id: UUID, user_id: UUID | None,
                    *, content_type: str, filename: str, body: bytes, sha256: str,
                    row_count: int | None = None) -> UUID:
    """Store an artifact once per (run, user); return its id (the existing one on a redelivery)."""
    row = conn.execute(
        """INSERT INTO artifacts (organization_id, run_id, user_id, content_type, filename, sha256,
                                  size_bytes, row_count, body)
           VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)
           ON CONFLICT (run_id, coalesce(user_id, '00000000-0000-0000-0000-000000000000'::uuid))
           DO UPDATE SET run_id = EXCLUDED.run_id
           RETURNING id""",
        (organization_id, run_id, user_id, content_type, filename, sha256, len(body), row_count, body),
    ).fetchone()
    assert row is not None
    return UUID(str(row[0]))


def get_artifact(conn: psycopg.Connection, artifact_id: UUID) -> ArtifactRow | None:
    """Return an artifact with its body, or None."""
    with conn.cursor(row_factory=class_row(ArtifactRow)) as cur:
        cur.execute("SELECT id, content_type, filename, sha256, body FROM artifacts WHERE id = %s",
                    (artifact_id,))
        return cur.fetchone()
