"""Pure planning: which runs a due schedule gets and where its next_run_at moves (no I/O)."""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import lru_cache

from shared.cron import fire_times_between, next_fire_time
from shared.errors import InvalidInput
from shared.sql.runs import RunSlot
from shared.sql.schedules import Advance, DueSchedule

# A slot this close behind the clock is late, not missed: beat sleeps up to a few seconds and a
# busy tick takes time, so only slots older than this count as misfires (beat was down).
MISFIRE_GRACE = timedelta(seconds=60)
# Slots are whole minutes, so "before the cutoff" is "at or before the cutoff minus a tick".
_TICK = timedelta(microseconds=1)
# Counting missed slots walks them one by one (about 15 µs each, uncached); past this many the
# count is a floor. 100,000 is ~70 days of a minutely schedule, far beyond the run_all cap.
SKIP_COUNT_LIMIT = 100_000
_COUNT_CHUNK = 10_000
# Slots inside the grace window: a minutely schedule has at most two, so this is never reached.
_ON_TIME_LIMIT = 1000


def plan_schedule(due: DueSchedule, now: datetime, run_all_cap: int) -> tuple[list[RunSlot], Advance]:
    """Return the runs to insert and the advance for one claimed schedule (never raises on bad data)."""
    if due.kind == "one_shot" or not due.cron_expression:
        slot = RunSlot(due.organization_id, due.id, due.next_run_at, "one_shot")
        return [slot], Advance(due.id, None, due.next_run_at, 0, True)
    try:
        return _plan_cron(due, due.cron_expression, now, run_all_cap)
    except InvalidInput as error:
        # A row the API would reject today (an expression or zone no longer valid): disable it
        # and say why, rather than failing the whole batch on every tick forever.
        return [], Advance(due.id, None, None, 0, False, disabled_reason=str(error))


def _plan_cron(due: DueSchedule, expression: str, now: datetime, run_all_cap: int) -> tuple[list[RunSlot], Advance]:
    zone, first = due.timezone, due.next_run_at
    cutoff = now - MISFIRE_GRACE
    # Slots in [cutoff, now] are on time; when first is on time it is one of them.
    if first >= cutoff:
        on_time = [first, *fire_times_between(expression, zone, first, now, _ON_TIME_LIMIT)]
        missed, last_missed = 0, None
    else:
        on_time = fire_times_between(expression, zone, cutoff - _TICK, now, _ON_TIME_LIMIT)
        missed, last_missed = count_slots(expression, zone, first, cutoff - _TICK)
    runs = [RunSlot(due.organization_id, due.id, s, "schedule") for s in on_time]
    skipped = 0
    if missed:
        if due.misfire_policy == "run_all":
            kept = [first, *fire_times_between(expression, zone, first, cutoff - _TICK, run_all_cap - 1)]
            kept = kept[:run_all_cap]
            runs = [RunSlot(due.organization_id, due.id, s, "catch_up") for s in kept] + runs
            skipped = missed - len(kept)
        elif due.misfire_policy == "skip" or on_time:
            # run_once with an on-time slot: that run is the one run; the missed ones are skipped.
            skipped = missed
        else:  # run_once: one catch-up run, for the most recent missed slot
            assert last_missed is not None
            runs = [RunSlot(due.organization_id, due.id, last_missed, "catch_up")]
            skipped = missed - 1
    # Every slot up to now is either in `runs` or counted as skipped, so the next is after now.
    nxt = next_fire_time(expression, zone, now)
    last = runs[-1].scheduled_for if runs else None
    return runs, Advance(due.id, nxt, last, skipped, nxt is None)


@lru_cache(maxsize=4096)
def count_slots(expression: str, zone: str, first: datetime, until: datetime) -> tuple[int, datetime]:
    """Count the fire times in [first, until] (first is one) and return the count and the last."""
    # Memoized: after a downtime many schedules share (expression, zone, next_run_at), and one
    # tick's `until` is the same for its whole batch.
    count, last = 1, first
    while count < SKIP_COUNT_LIMIT:
        chunk = fire_times_between(expression, zone, last, until, min(_COUNT_CHUNK, SKIP_COUNT_LIMIT - count))
        if not chunk:
            break
        count, last = count + len(chunk), chunk[-1]
    return count, last
