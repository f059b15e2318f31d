"""Organization quotas: whether one more schedule, recipient, triggered run or delivery fits.

Pure: no I/O. The caller counts (under a lock, so that two requests at the limit cannot both
pass) and these functions decide. A limit of 0 turns a quota off. Every refusal names the
quota and its setting, so a caller always learns why; nothing is dropped silently.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from shared.errors import InvalidInput, RateLimited
from shared.settings import Settings

QUOTA_WINDOW = timedelta(hours=1)


@dataclass(frozen=True)
class Quota:
    """One limit: its setting's name, what it counts, and the limit (0: none)."""

    setting: str
    counts: str
    limit: int


def schedules_quota(settings: Settings) -> Quota:
    """Live schedules per organization."""
    return Quota("PUNCTUAL_QUOTA_SCHEDULES", "schedules per organization", settings.quota_schedules)


def recipients_quota(settings: Settings) -> Quota:
    """Recipients (subscribers) per schedule."""
    return Quota("PUNCTUAL_QUOTA_RECIPIENTS_PER_SCHEDULE", "recipients per schedule",
                 settings.quota_recipients_per_schedule)


def triggered_runs_quota(settings: Settings) -> Quota:
    """Runs triggered by hand (trigger, test delivery, test_now) per organization per hour."""
    return Quota("PUNCTUAL_QUOTA_RUNS_TRIGGERED_PER_HOUR", "runs triggered per hour per organization",
                 settings.quota_runs_triggered_per_hour)


def deliveries_quota(settings: Settings) -> Quota:
    """Deliveries per organization per hour."""
    return Quota("PUNCTUAL_QUOTA_DELIVERIES_PER_HOUR", "deliveries per hour per organization",
                 settings.quota_deliveries_per_hour)


def check_total(quota: Quota, total: int) -> None:
    """Raise InvalidInput (400) if `total` things would pass a count quota."""
    if quota.limit and total > quota.limit:
        raise InvalidInput(f"Quota exceeded: at most {quota.limit} {quota.counts} ({quota.setting}); "
                           f"this would make {total}")


def check_rate(quota: Quota, recent: int, oldest: datetime | None, now: datetime) -> None:
    """Raise RateLimited (429) if one more would pass a per-hour quota, given how many happened in the last
    hour and when the oldest of them did (it leaves the window first, which is when to retry)."""
    if not quota.limit or recent + 1 <= quota.limit:
        return
    retry_after = (oldest + QUOTA_WINDOW - now).total_seconds() if oldest is not None else QUOTA_WINDOW.total_seconds()
    raise RateLimited(f"Quota exceeded: at most {quota.limit} {quota.counts} ({quota.setting}); "
                      f"{recent} in the last hour", int(max(retry_after, 0)) + 1)


def deliveries_refusal(quota: Quota, recent: int, adding: int) -> str | None:
    """Why a run may not fan out `adding` deliveries when the organization made `recent` in the last hour,
    or None when it may (the reason is meant for the run's record)."""
    if not quota.limit or recent + adding <= quota.limit:
        return None
    return (f"Quota exceeded: at most {quota.limit} {quota.counts} ({quota.setting}); {recent} in the last "
            f"hour and this run would add {adding}")
