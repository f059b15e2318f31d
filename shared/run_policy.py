"""Policy for runs and deliveries: pure functions that decide a state (no I/O, `now` passed in).

- what a finished run's status is, from its deliveries;
- when a run counts as failed, and when a streak of failed runs system-disables its schedule;
- what an attempt's outcome is and when the next attempt is due (exponential backoff with full
  jitter, never sooner than the receiver's Retry-After).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from shared.statuses import AttemptOutcome, RunStatus


@dataclass(frozen=True)
class DeliveryCounts:
    """A run's settled deliveries, counted."""
    total: int = 0
    delivered: int = 0
    failed: int = 0
    cancelled: int = 0
    never_sent: int = 0  # failed without an attempt: the command failed for that recipient


def run_outcome(counts: DeliveryCounts) -> RunStatus:
    """A finished run's status from its settled deliveries (pure)."""
    if counts.total > 0 and counts.cancelled == counts.total:
        return RunStatus.SKIPPED  # the alert condition held back every recipient's content
    if counts.failed == 0:
        return RunStatus.COMPLETE
    if counts.delivered == 0 and counts.never_sent == counts.failed:
        return RunStatus.FAILED  # every failure is a command failure: nothing was even attempted
    return RunStatus.ERROR_DELIVERED


def is_failed_run(status: RunStatus, delivered: int) -> bool:
    """Whether a finished run counts toward the failure streak: nothing reached anyone (pure)."""
    # One bounced address out of many is not a failed run; a run that reached nobody is.
    return status == RunStatus.FAILED or (status == RunStatus.ERROR_DELIVERED and delivered == 0)


@dataclass(frozen=True)
class Streak:
    consecutive_failures: int
    disable_reason: str | None  # set when this run makes the schedule system-disabled


def next_streak(consecutive_failures: int, failed: bool, disable_after: int, already_disabled: bool) -> Streak:
    """The schedule's failure streak after a run, and whether it is now to be disabled (pure)."""
    if not failed:
        return Streak(0, None)
    count = consecutive_failures + 1
    if count >= disable_after and not already_disabled:
        return Streak(count, f"disabled after {disable_after} consecutive failed runs")
    return Streak(count, None)


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int
    base_delay_s: float
    max_delay_s: float


@dataclass(frozen=True)
class Failure:
    """How an attempt failed, as the destination reported it."""
    message: str
    permanent: bool = False
    retry_after_s: float | None = None


@dataclass(frozen=True)
class Decision:
    outcome: AttemptOutcome
    next_attempt_at: datetime | None = None


def backoff_delay(attempt: int, base_delay_s: float, max_delay_s: float, rng: random.Random | None = None) -> float:
    """Seconds to wait after failed attempt number `attempt` (1-based), full jitter (pure but for rng)."""
    # Full jitter spreads the retries of many deliveries that failed together (an outage) over
    # the whole window instead of stampeding the receiver at the same instants.
    cap = min(max_delay_s, base_delay_s * (2 ** min(max(0, attempt - 1), 62)))
    return (rng or random).uniform(0, cap)


def next_delay(attempt: int, policy: RetryPolicy, retry_after_s: float | None,
               rng: random.Random | None = None) -> float:
    """The backoff delay, raised to the receiver's Retry-After (itself capped at max_delay_s)."""
    delay = backoff_delay(attempt, policy.base_delay_s, policy.max_delay_s, rng)
    if retry_after_s is not None:
        delay = max(delay, min(retry_after_s, policy.max_delay_s))
    return delay


def decide_attempt(attempt: int, policy: RetryPolicy, failure: Failure | None, now: datetime,
                   rng: random.Random | None = None) -> Decision:
    """The outcome of attempt number `attempt`: delivered, retry at a time, or failed for good (pure)."""
    if failure is None:
        return Decision(AttemptOutcome.DELIVERED)
    if failure.permanent or attempt >= policy.max_attempts:
        return Decision(AttemptOutcome.FAILED)
    delay = next_delay(attempt, policy, failure.retry_after_s, rng)
    return Decision(AttemptOutcome.RETRY, now + timedelta(seconds=delay))
