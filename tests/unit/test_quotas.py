"""Quota decisions (pure): what fits, what is refused, and that every refusal names its quota."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from shared.errors import InvalidInput, RateLimited
from shared.quotas import Quota, check_rate, check_total, deliveries_quota, deliveries_refusal
from shared.settings import Settings
from tests.conftest import TEST_SECRET_KEY

NOW = datetime(2025, 3, 9, 12, 0, tzinfo=UTC)
SCHEDULES = Quota("PUNCTUAL_QUOTA_SCHEDULES", "schedules per organization", 3)
RUNS = Quota("PUNCTUAL_QUOTA_RUNS_TRIGGERED_PER_HOUR", "runs triggered per hour per organization", 2)


def test_count_quota_allows_up_to_the_limit_and_names_itself_beyond() -> None:
    check_total(SCHEDULES, 3)
    with pytest.raises(InvalidInput) as refused:
        check_total(SCHEDULES, 4)
    assert refused.value.detail == ("Quota exceeded: at most 3 schedules per organization "
                                    "(PUNCTUAL_QUOTA_SCHEDULES); this would make 4")


def test_zero_turns_a_quota_off() -> None:
    off = Quota("PUNCTUAL_QUOTA_SCHEDULES", "schedules per organization", 0)
    check_total(off, 10**9)
    check_rate(off, 10**9, NOW, NOW)
    assert deliveries_refusal(off, 10**9, 10**9) is None


def test_rate_quota_retries_when_the_oldest_leaves_the_hour() -> None:
    check_rate(RUNS, 1, NOW - timedelta(minutes=5), NOW)
    with pytest.raises(RateLimited) as refused:
        check_rate(RUNS, 2, NOW - timedelta(minutes=50), NOW)
    assert refused.value.detail == ("Quota exceeded: at most 2 runs triggered per hour per organization "
                                    "(PUNCTUAL_QUOTA_RUNS_TRIGGERED_PER_HOUR); 2 in the last hour")
    assert refused.value.retry_after_s == 10 * 60 + 1


def test_deliveries_fan_out_only_when_the_whole_run_fits() -> None:
    quota = deliveries_quota(replace(Settings("postgresql://x", "redis://x", TEST_SECRET_KEY),
                                     quota_deliveries_per_hour=100))
    assert deliveries_refusal(quota, 60, 40) is None
    assert deliveries_refusal(quota, 61, 40) == (
        "Quota exceeded: at most 100 deliveries per hour per organization (PUNCTUAL_QUOTA_DELIVERIES_PER_HOUR); "
        "61 in the last hour and this run would add 40")
    assert deliveries_refusal(quota, 0, 101) is not None  # a run larger than the quota never fits
