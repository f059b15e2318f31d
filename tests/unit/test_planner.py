"""Beat's planner: runs and the next slot for a due schedule, for each misfire policy (pure)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from beat.planner import plan_schedule
from shared.sql.schedules import DueSchedule

NOW = datetime(2026, 3, 10, 12, 0, 20, 500000, tzinfo=UTC)
MINUTE = timedelta(minutes=1)
ORG = uuid.uuid4()


def _due(next_run_at: datetime, cron: str | None = "* * * * *", policy: str = "run_once",
         kind: str = "cron", zone: str = "UTC") -> DueSchedule:
    return DueSchedule(uuid.uuid4(), ORG, kind, cron, zone, policy, next_run_at, NOW)


def test_on_time_slot_gives_one_run_and_moves_to_the_next_slot() -> None:
    slot = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
    runs, advance = plan_schedule(_due(slot), NOW, 100)
    assert [(r.scheduled_for, r.trigger) for r in runs] == [(slot, "schedule")]
    assert (advance.next_run_at, advance.last_run_at, advance.skipped, advance.done) == (slot + MINUTE, slot, 0, False)


def test_a_slot_late_by_less_than_the_grace_is_not_a_misfire() -> None:
    slot = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
    later = slot + timedelta(seconds=59)
    runs, advance = plan_schedule(_due(slot, "*/5 * * * *", policy="skip"), later, 100)
    assert [r.trigger for r in runs] == ["schedule"] and advance.skipped == 0


def test_run_once_after_downtime_runs_the_latest_missed_slot_once() -> None:
    first = datetime(2026, 3, 10, 9, 30, tzinfo=UTC)  # hourly at :30, five missed
    runs, advance = plan_schedule(_due(first, "30 * * * *"), NOW, 100)
    assert [(r.scheduled_for, r.trigger) for r in runs] == [(first + timedelta(hours=2), "catch_up")]
    assert advance.skipped == 2
    assert advance.next_run_at == datetime(2026, 3, 10, 12, 30, tzinfo=UTC)


def test_run_once_with_an_on_time_slot_runs_only_that_one() -> None:
    first = NOW.replace(second=0, microsecond=0) - 10 * MINUTE
    runs, advance = plan_schedule(_due(first), NOW, 100)
    assert [(r.scheduled_for, r.trigger) for r in runs] == [(NOW.replace(second=0, microsecond=0), "schedule")]
    assert advance.skipped == 10  # 11:50 to 11:59 (80.5 s old: beyond the 60 s grace)
    assert advance.next_run_at == NOW.replace(second=0, microsecond=0) + MINUTE


def test_skip_counts_every_missed_slot_far_beyond_the_cap() -> None:
    first = NOW.replace(second=0, microsecond=0) - 5000 * MINUTE
    runs, advance = plan_schedule(_due(first, policy="skip"), NOW, 100)
    # 12:00 is on time; the 5000 minutes from `first` to 11:59 (80.5 s old) are missed.
    assert [r.trigger for r in runs] == ["schedule"]
    assert advance.skipped == 5000
    assert advance.skipped + len(runs) == 5001


def test_run_all_runs_the_oldest_slots_up_to_the_cap_and_counts_the_rest() -> None:
    first = NOW.replace(second=0, microsecond=0) - 300 * MINUTE
    runs, advance = plan_schedule(_due(first, policy="run_all"), NOW, 100)
    catch_up = [r.scheduled_for for r in runs if r.trigger == "catch_up"]
    assert catch_up == [first + k * MINUTE for k in range(100)]
    assert [r.trigger for r in runs[100:]] == ["schedule"]
    assert advance.skipped == 300 - 100
    assert advance.last_run_at == NOW.replace(second=0, microsecond=0)


def test_run_all_below_the_cap_runs_every_missed_slot_oldest_first() -> None:
    first = datetime(2026, 3, 10, 9, 30, tzinfo=UTC)
    runs, advance = plan_schedule(_due(first, "30 * * * *", policy="run_all"), NOW, 100)
    assert [r.scheduled_for.hour for r in runs] == [9, 10, 11] and advance.skipped == 0


def test_one_shot_fires_once_and_is_done() -> None:
    slot = NOW - timedelta(hours=3)  # late one-shots still fire: they are messages someone expects
    runs, advance = plan_schedule(_due(slot, None, kind="one_shot"), NOW, 100)
    assert [(r.scheduled_for, r.trigger) for r in runs] == [(slot, "one_shot")]
    assert advance.done and advance.next_run_at is None


def test_an_expression_that_never_fires_again_marks_the_schedule_done() -> None:
    slot = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
    runs, advance = plan_schedule(_due(slot, "0 12 10 3 ? 2026"), NOW, 100)
    assert len(runs) == 1 and advance.done and advance.next_run_at is None


def test_a_stored_expression_that_no_longer_parses_disables_the_schedule() -> None:
    runs, advance = plan_schedule(_due(NOW, "61 * * * *"), NOW, 100)
    assert runs == [] and advance.disabled_reason and "cron_expression" in advance.disabled_reason
    assert advance.next_run_at is None and not advance.done


def test_zone_is_used_for_the_next_slot() -> None:
    slot = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
    _, advance = plan_schedule(_due(slot, "0 9 * * *", zone="America/New_York"), NOW, 100)
    assert advance.next_run_at == datetime(2026, 3, 10, 13, 0, tzinfo=UTC)  # 09:00 EDT (DST since 8 March)
