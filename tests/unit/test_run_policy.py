"""Policy for runs and deliveries (pure): run outcome, failure streak, retry decisions, Retry-After."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from shared.run_policy import (
    DeliveryCounts,
    Failure,
    RetryPolicy,
    backoff_delay,
    decide_attempt,
    is_failed_run,
    next_delay,
    next_streak,
    run_outcome,
)
from shared.statuses import AttemptOutcome, RunStatus
from workers.destinations.http_status import retry_after_seconds

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
POLICY = RetryPolicy(max_attempts=5, base_delay_s=30, max_delay_s=3600)


def test_backoff_is_full_jitter_under_an_exponential_cap() -> None:
    rng = random.Random(7)
    for attempt, cap in [(1, 30), (2, 60), (3, 120), (8, 3600), (50, 3600)]:
        delays = [backoff_delay(attempt, 30, 3600, rng) for _ in range(500)]
        assert 0 <= min(delays) and max(delays) <= cap
        assert max(delays) > cap * 0.9 and min(delays) < cap * 0.1  # spread over the whole window


def test_retry_after_raises_the_delay_but_never_past_the_maximum() -> None:
    rng = random.Random(1)
    assert next_delay(1, RetryPolicy(5, 0.01, 5), 3, rng) >= 3
    assert next_delay(1, RetryPolicy(5, 0.01, 5), 10_000, rng) == 5


def test_retry_after_accepts_seconds_and_http_dates() -> None:
    now = NOW.timestamp()
    assert retry_after_seconds("120", now) == 120
    assert retry_after_seconds(format_datetime(NOW + timedelta(minutes=1), usegmt=True), now) == 60
    assert retry_after_seconds("soon", now) is None and retry_after_seconds(None, now) is None


def test_an_attempt_is_delivered_retried_at_a_time_or_failed_for_good() -> None:
    rng = random.Random(3)
    assert decide_attempt(1, POLICY, None, NOW).outcome is AttemptOutcome.DELIVERED
    retry = decide_attempt(2, POLICY, Failure("HTTP 503"), NOW, rng)
    assert retry.outcome is AttemptOutcome.RETRY and retry.next_attempt_at is not None
    assert NOW <= retry.next_attempt_at <= NOW + timedelta(seconds=60)
    waited = decide_attempt(1, POLICY, Failure("HTTP 429", retry_after_s=900), NOW, rng)
    assert waited.next_attempt_at is not None and waited.next_attempt_at >= NOW + timedelta(seconds=900)
    assert decide_attempt(1, POLICY, Failure("HTTP 400", permanent=True), NOW) .outcome is AttemptOutcome.FAILED
    last = decide_attempt(5, POLICY, Failure("HTTP 503"), NOW)
    assert last.outcome is AttemptOutcome.FAILED and last.next_attempt_at is None


@pytest.mark.parametrize(("counts", "status"), [
    (DeliveryCounts(3, 3, 0, 0, 0), RunStatus.COMPLETE),
    (DeliveryCounts(0, 0, 0, 0, 0), RunStatus.COMPLETE),
    (DeliveryCounts(3, 2, 1, 0, 0), RunStatus.ERROR_DELIVERED),
    (DeliveryCounts(2, 0, 2, 0, 0), RunStatus.ERROR_DELIVERED),  # sent and refused: a delivery problem
    (DeliveryCounts(2, 0, 2, 0, 2), RunStatus.FAILED),           # never sent: the command failed for everyone
    (DeliveryCounts(2, 0, 0, 2, 0), RunStatus.SKIPPED),          # the alert condition held everything back
    (DeliveryCounts(3, 1, 0, 2, 0), RunStatus.COMPLETE),
])
def test_run_status_follows_from_deliveries(counts: DeliveryCounts, status: RunStatus) -> None:
    assert run_outcome(counts) is status


def test_a_run_that_reached_nobody_is_a_failed_run_one_bounce_is_not() -> None:
    assert is_failed_run(RunStatus.FAILED, 0)
    assert is_failed_run(RunStatus.ERROR_DELIVERED, 0)
    assert not is_failed_run(RunStatus.ERROR_DELIVERED, 1)
    assert not is_failed_run(RunStatus.COMPLETE, 3) and not is_failed_run(RunStatus.SKIPPED, 0)


def test_the_failure_streak_disables_once_at_the_threshold_and_resets_on_success() -> None:
    assert next_streak(8, True, 10, False).disable_reason is None
    at = next_streak(9, True, 10, False)
    assert at.consecutive_failures == 10 and at.disable_reason == "disabled after 10 consecutive failed runs"
    assert next_streak(10, True, 10, True).disable_reason is None  # disabled already: not again
    assert next_streak(7, False, 10, False).consecutive_failures == 0
