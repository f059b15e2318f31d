"""SQL for run_chunks: a per_subscriber run's subscribers split into chunks, each produced by one task."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from uuid import UUID

import psycopg

from shared.sql.heartbeats import holder_is_dead

MAX_CLAIMS = 3
# The one claim predicate for chunks: not done, and not held by a live worker.
CLAIMABLE = f"(c.done_at IS NULL AND (c.claimed_by IS NULL OR {holder_is_dead('c')}))"


@dataclass(frozen=True)
class ClaimedChunk:
    user_ids: list[UUID]
    claims: int  # this claim included: past MAX_CLAIMS the chunk is failed, not produced again


def insert_chunks(conn: psycopg.Connection, organization_id: UUID, run_id: UUID, first_no: int,
                  chunks: Sequence[Sequence[UUID]], republish_after_s: float) -> list[int]:
    """Insert chunks of subscriber ids numbered from first_no; return the numbers inserted."""
    if not chunks:
        return []
    numbers = list(range(first_no, first_no + len(chunks)))
    # A uuid[][] must be rectangular, so each chunk travels as one text and is split back.
    rows = conn.execute(
        """INSERT INTO run_chunks (run_id, chunk_no, organization_id, user_ids, publish_after)
           SELECT %s, v.no, %s, string_to_array(v.ids, ',')::uuid[], now() + make_interval(secs => %s)
           FROM unnest(%b::int[], %b::text[]) AS v(no, ids)
           ON CONFLICT (run_id, chunk_no) DO NOTHING RETURNING chunk_no""",
        (run_id, organization_id, republish_after_s, numbers, [",".join(str(u) for u in c) for c in chunks]),
    ).fetchall()
    return [r[0] for r in rows]


def claim_chunk(conn: psycopg.Connection, run_id: UUID, chunk_no: int, worker_id: str,
                dead_after_s: float) -> ClaimedChunk | None:
    """Claim a chunk for this worker; None if done or held by a live worker."""
    row = conn.execute(
        f"""UPDATE run_chunks c SET claimed_by = %(worker)s, publish_after = NULL, claims = c.claims + 1
            WHERE c.run_id = %(run)s AND c.chunk_no = %(no)s AND {CLAIMABLE}
            RETURNING c.user_ids, c.claims""",
        {"worker": worker_id, "run": run_id, "no": chunk_no, "dead_after": dead_after_s},
    ).fetchone()
    return ClaimedChunk(list(row[0]), int(row[1])) if row else None


def finish_chunk(conn: psycopg.Connection, run_id: UUID, chunk_no: int) -> int:
    """Mark a chunk done; return how many chunks of the run remain open (locks the run row)."""
    # Locking the run serialises the last chunks finishing at once: exactly one sees 0. NO KEY
    # UPDATE, because the chunk's inserts hold KEY SHARE on the run (foreign keys); FOR UPDATE
    # would make two chunks deadlock on each other.
    conn.execute("SELECT 1 FROM runs WHERE id = %s FOR NO KEY UPDATE", (run_id,))
    conn.execute("UPDATE run_chunks SET done_at = now(), publish_after = NULL WHERE run_id = %s AND chunk_no = %s",
                 (run_id, chunk_no))
    row = conn.execute("SELECT count(*) FROM run_chunks WHERE run_id = %s AND done_at IS NULL", (run_id,)).fetchone()
    return int(row[0]) if row else 0


def claim_due_for_publish(conn: psycopg.Connection, limit: int, republish_after_s: float,
                          dead_after_s: float) -> list[tuple[UUID, int]]:
    """Chunks whose message is overdue (lost) or whose worker died; push their next publish ahead."""
    rows = conn.execute(
        f"""UPDATE run_chunks SET publish_after = now() + make_interval(secs => %(again)s)
            WHERE (run_id, chunk_no) IN (
                SELECT c.run_id, c.chunk_no FROM run_chunks c
                WHERE c.done_at IS NULL AND (
                    (c.claimed_by IS NULL AND c.publish_after <= now())
                    OR (c.claimed_by IS NOT NULL AND {holder_is_dead('c')}
                        AND (c.publish_after IS NULL OR c.publish_after <= now())))
                LIMIT %(limit)s FOR UPDATE SKIP LOCKED)
            RETURNING run_id, chunk_no""",
        {"again": republish_after_s, "limit": limit, "dead_after": dead_after_s},
    ).fetchall()
    return [(r[0], r[1]) for r in rows]


def republish_in_flight(conn: psycopg.Connection) -> int:
    """Make every unclaimed chunk whose message is in the broker due for publish now; return how many."""
    cur = conn.execute("""UPDATE run_chunks SET publish_after = now()
                          WHERE (run_id, chunk_no) IN (
                              SELECT run_id, chunk_no FROM run_chunks
                              WHERE done_at IS NULL AND claimed_by IS NULL AND publish_after > now()
                              FOR UPDATE SKIP LOCKED)""")
    return cur.rowcount
