"""SQL for artifacts: the content a run produced, stored once per (run, subscriber) with its sha256."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from uuid import UUID

import psycopg
from psycopg.rows import class_row


@dataclass(frozen=True)
class NewArtifact:
    organization_id: UUID
    run_id: UUID
    user_id: UUID | None  # set for per-subscriber artifacts
    content_type: str
    filename: str
    body: bytes
    sha256: str
    row_count: int | None = None


@dataclass(frozen=True)
class ArtifactRow:
    id: UUID
    content_type: str
    filename: str
    sha256: str
    body: bytes


def insert_artifacts(conn: psycopg.Connection, items: Sequence[NewArtifact]) -> list[UUID]:
    """Store artifacts in one statement, once per (run, user); return their ids in order (existing ones on a
    redelivery)."""
    if not items:
        return []
    rows = conn.execute(
        """INSERT INTO artifacts (organization_id, run_id, user_id, content_type, filename, sha256, size_bytes,
                                  row_count, body)
           SELECT v.org, v.run, v.usr, v.ctype, v.fname, v.sha, octet_length(v.body), v.rows, v.body
           FROM unnest(%b::uuid[], %b::uuid[], %b::uuid[], %b::text[], %b::text[], %b::text[], %b::int[],
                       %b::bytea[]) WITH ORDINALITY AS v(org, run, usr, ctype, fname, sha, rows, body, n)
           ORDER BY v.n
           ON CONFLICT (run_id, coalesce(user_id, '00000000-0000-0000-0000-000000000000'::uuid))
           DO UPDATE SET run_id = EXCLUDED.run_id
           RETURNING id, run_id, user_id""",
        ([i.organization_id for i in items], [i.run_id for i in items], [i.user_id for i in items],
         [i.content_type for i in items], [i.filename for i in items], [i.sha256 for i in items],
         [i.row_count for i in items], [i.body for i in items]),
    ).fetchall()
    # RETURNING order is not promised: map back by the conflict key.
    by_key = {(r[1], r[2]): r[0] for r in rows}
    return [by_key[(i.run_id, i.user_id)] for i in items]


def get_artifacts(conn: psycopg.Connection, artifact_ids: Sequence[UUID]) -> dict[UUID, ArtifactRow]:
    """Artifacts with their bodies, by id."""
    with conn.cursor(row_factory=class_row(ArtifactRow)) as cur:
        cur.execute("SELECT id, content_type, filename, sha256, body FROM artifacts WHERE id = ANY(%b)",
                    (list(artifact_ids),))
        return {a.id: a for a in cur.fetchall()}
