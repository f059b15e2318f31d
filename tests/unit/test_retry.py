"""Retry policy, Retry-After parsing and how a run's status follows from its deliveries (pure)."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from email.utils import format_datetime

import pytest

from shared.sql.execution import derive_run_outcome
from workers.destinations.http_status import retry_after_seconds
from workers.retry import backoff_delay, next_delay


def test_backoff_is_full_jitter_under_an_exponential_cap() -> None:
    rng = random.Random(7)
    for attempt, cap in [(1, 30), (2, 60), (3, 120), (8, 3600), (50, 3600)]:
        delays = [backoff_delay(attempt, 30, 3600, rng) for _ in range(500)]
        assert 0 <= min(delays) and max(delays) <= cap
        assert max(delays) > cap * 0.9 and min(delays) < cap * 0.1  # spread over the whole window


def test_retry_after_raises_the_delay_but_never_past_the_maximum() -> None:
    rng = random.Random(1)
    assert next_delay(1, 0.01, 5, 3, rng) >= 3
    assert next_delay(1, 0.01, 5, 10_000, rng) == 5


def test_retry_after_accepts_seconds_and_http_dates() -> None:
    now = datetime(2026, 1, 1, 12, 0, tzinfo=UTC).timestamp()
    assert retry_after_seconds("120", now) == 120
    assert retry_after_seconds(format_datetime(datetime(2026, 1, 1, 12, 1, tzinfo=UTC), usegmt=True), now) == 60
    assert retry_after_seconds("soon", now) is None and retry_after_seconds(None, now) is None


@pytest.mark.parametrize(("counts", "status"), [
    ((3, 3, 0, 0, 0), "complete"),
    ((0, 0, 0, 0, 0), "complete"),
    ((3, 2, 1, 0, 0), "error_delivered"),
    ((2, 0, 2, 0, 0), "error_delivered"),   # sent and refused: a delivery problem
    ((2, 0, 2, 0, 2), "failed"),            # never sent: the command failed for everyone
    ((2, 0, 0, 2, 0), "skipped"),           # the alert condition held everything back
    ((3, 1, 0, 2, 0), "complete"),
])
def test_run_status_follows_from_deliveries(counts: tuple[int, int, int, int, int], status: str) -> None:
    assert derive_run_outcome(*counts).status == status
