"""SQL for heartbeats: beat's (what its ticks did) and every worker process's (it is alive).

A worker's heartbeat is what makes its claims hold: work whose `claimed_by` names a worker not
heard from for `dead_after` seconds may be taken up by another (see holder_is_dead).
"""

from __future__ import annotations

from dataclasses import dataclass

import psycopg

from shared.statuses import RunStatus


@dataclass(frozen=True)
class BeatHeartbeat:
    beat_id: str
    hostname: str
    pid: int
    published: int
    claimed: int
    lag_s: float


def holder_is_dead(alias: str) -> str:
    """SQL: the worker named in `<alias>.claimed_by` is not alive (needs the %(dead_after)s parameter)."""
    # NOT EXISTS rather than a join: a row whose worker exited cleanly (its heartbeat deleted)
    # or never heartbeated counts as dead too.
    return (f"NOT EXISTS (SELECT 1 FROM worker_heartbeats wh WHERE wh.worker_id = {alias}.claimed_by "
            "AND wh.last_seen_at > now() - make_interval(secs => %(dead_after)s))")


def beat_worker(conn: psycopg.Connection, worker_id: str, hostname: str, pid: int) -> None:
    """Record that this worker process is alive now."""
    conn.execute(
        """INSERT INTO worker_heartbeats (worker_id, hostname, pid) VALUES (%s, %s, %s)
           ON CONFLICT (worker_id) DO UPDATE SET last_seen_at = now()""",
        (worker_id, hostname, pid),
    )


def forget_worker(conn: psycopg.Connection, worker_id: str) -> None:
    """Remove a worker's heartbeat as it exits: what it still holds is taken up at once."""
    conn.execute("DELETE FROM worker_heartbeats WHERE worker_id = %s", (worker_id,))


def reap_dead_workers(conn: psycopg.Connection, dead_after_s: float) -> list[str]:
    """Forget workers not heard from for `dead_after_s` and return them, each to exactly one caller.

    What a dead worker claimed is taken up through holder_is_dead; what it had only reserved (a
    prefetched message, unacknowledged in the broker until its visibility timeout) is known to no
    table, so the caller republishes every message in flight once per death (see the sweep)."""
    rows = conn.execute(
        """DELETE FROM worker_heartbeats WHERE worker_id IN (
               SELECT worker_id FROM worker_heartbeats WHERE last_seen_at < now() - make_interval(secs => %s)
               FOR UPDATE SKIP LOCKED)
           RETURNING worker_id""",
        (dead_after_s,),
    ).fetchall()
    return [r[0] for r in rows]


def record_beat_heartbeat(conn: psycopg.Connection, beat: BeatHeartbeat) -> None:
    """Upsert this beat's heartbeat row, with the age of the oldest run still waiting to be published."""
    conn.execute(
        f"""INSERT INTO beat_heartbeats (beat_id, hostname, pid, runs_published, last_tick_published,
                                        last_tick_claimed, last_lag_s, oldest_pending_run_at)
           VALUES (%(beat_id)s, %(hostname)s, %(pid)s, %(published)s, %(published)s, %(claimed)s, %(lag)s,
                   (SELECT min(created_at) FROM runs WHERE status = '{RunStatus.PENDING}'))
           ON CONFLICT (beat_id) DO UPDATE SET last_tick_at = now(),
               runs_published = beat_heartbeats.runs_published + EXCLUDED.runs_published,
               last_tick_published = EXCLUDED.last_tick_published,
               last_tick_claimed = EXCLUDED.last_tick_claimed,
               last_lag_s = EXCLUDED.last_lag_s,
               oldest_pending_run_at = EXCLUDED.oldest_pending_run_at""",
        {"beat_id": beat.beat_id, "hostname": beat.hostname, "pid": beat.pid, "published": beat.published,
         "claimed": beat.claimed, "lag": beat.lag_s},
    )


def add_runs_published(conn: psycopg.Connection, beat_id: str, published: int) -> None:
    """Add runs this beat's relay just published to its heartbeat row."""
    conn.execute(
        """UPDATE beat_heartbeats SET runs_published = runs_published + %s, last_tick_published = %s
           WHERE beat_id = %s""",
        (published, published, beat_id),
    )


def delete_stale_beat_heartbeats(conn: psycopg.Connection, older_than_s: float) -> int:
    """Forget beats not heard from for a while (they exited or died); return how many."""
    cur = conn.execute("DELETE FROM beat_heartbeats WHERE last_tick_at < now() - make_interval(secs => %s)",
                       (older_than_s,))
    return cur.rowcount
