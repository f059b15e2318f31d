"""Finishing runs: decide a run's outcome from its deliveries, and its schedule's failure streak.

The decisions are shared.run_policy's; this module reads what they need and writes what they
decided, set-based, for every run of a batch at once.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from uuid import UUID

import psycopg

from shared.metrics import RUNS_FINISHED
from shared.run_policy import is_failed_run, next_streak, run_outcome
from shared.sql import runs as run_sql
from shared.sql import schedules as schedule_sql
from shared.sql.runs import Closing, Finished


def finish_settled_runs(conn: psycopg.Connection, run_ids: Iterable[UUID], disable_after: int) -> list[Finished]:
    """Finish every run among these whose deliveries have all settled; return the runs finished."""
    candidates = sorted(set(run_ids))
    if not candidates:
        return []
    counts = run_sql.lock_finishable(conn, candidates)
    closings = [Closing(run_id, run_outcome(c), c.total, c.delivered, c.failed) for run_id, c in counts.items()]
    return close_runs(conn, closings, disable_after)


def close_runs(conn: psycopg.Connection, closings: Sequence[Closing], disable_after: int) -> list[Finished]:
    """Finish runs with the given statuses and apply each outcome to its schedule's streak."""
    finished = run_sql.finish_runs(conn, closings)
    for run in finished:
        # Counted inside the transaction: runs finish in many places, and a finish rolled back
        # (a database error) is rare enough that a run counted twice then is the lesser harm.
        RUNS_FINISHED.labels(str(run.status)).inc()
    counted = [f for f in finished if f.counts_for_schedule]
    if not counted:
        return finished
    streaks = schedule_sql.lock_streaks(conn, sorted({f.schedule_id for f in counted}))
    results: dict[UUID, schedule_sql.RunResult] = {}
    for run in counted:  # several runs of one schedule in a batch apply in turn
        current = streaks.get(run.schedule_id)
        if current is None:
            continue
        earlier = results.get(run.schedule_id)
        streak = next_streak(current.consecutive_failures, is_failed_run(run.status, run.delivered),
                             disable_after, current.system_disabled)
        reason = streak.disable_reason or (earlier.disable_reason if earlier else None)
        results[run.schedule_id] = schedule_sql.RunResult(run.schedule_id, str(run.status),
                                                          streak.consecutive_failures, reason)
        streaks[run.schedule_id] = schedule_sql.ScheduleStreak(
            run.schedule_id, streak.consecutive_failures, current.system_disabled or reason is not None)
    schedule_sql.record_run_results(conn, list(results.values()))
    return finished

