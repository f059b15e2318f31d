"""Pure planning: which runs a due schedule gets and where its next_run_at moves (no I/O)."""

from __future__ import annotations

from datetime import datetime, timedelta

from shared.cron import fire_times_between, next_fire_time
from shared.sql.dispatch import Advance, DueSchedule, RunSlot

# A slot this close behind the clock is late, not missed: beat sleeps up to a few seconds and a
# busy tick takes time, so only slots older than this count as misfires (beat was down).
MISFIRE_GRACE = timedelta(seconds=60)


def plan_schedule(due: DueSchedule, now: datetime, run_all_cap: int) -> tuple[list[RunSlot], Advance]:
    """Return the runs to insert and the advance for one claimed schedule."""
    if due.kind == "one_shot" or not due.cron_expression:
        slot = RunSlot(due.organization_id, due.id, due.next_run_at, "one_shot")
        return [slot], Advance(due.id, None, due.next_run_at, 0, True)

    expression, zone = due.cron_expression, due.timezone
    # +1 so we can tell "exactly the cap" from "more than the cap".
    later = fire_times_between(expression, zone, due.next_run_at, now, run_all_cap + 1)
    slots = [due.next_run_at, *later]
    missed = [s for s in slots if s < now - MISFIRE_GRACE]
    on_time = [s for s in slots if s >= now - MISFIRE_GRACE]
    runs = [RunSlot(due.organization_id, due.id, s, "schedule") for s in on_time]
    skipped = 0
    if missed:
        if due.misfire_policy == "run_all":
            kept = missed[:run_all_cap]
            skipped = len(missed) - len(kept)
            runs = [RunSlot(due.organization_id, due.id, s, "catch_up") for s in kept] + runs
        elif due.misfire_policy == "skip":
            skipped = len(missed)
        elif not on_time:  # run_once: one catch-up for any number of missed slots
            runs = [RunSlot(due.organization_id, due.id, missed[-1], "catch_up")]
            skipped = len(missed) - 1
        else:
            skipped = len(missed)
    # When more slots exist than we looked at, jump from now: never release a burst later.
    after = now if len(later) > run_all_cap else max(slots[-1], now)
    nxt = next_fire_time(expression, zone, after)
    last = runs[-1].scheduled_for if runs else None
    return runs, Advance(due.id, nxt, last, skipped, nxt is None)
