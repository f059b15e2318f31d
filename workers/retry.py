"""Retry policy: exponential backoff with full jitter, never sooner than the receiver asked."""

from __future__ import annotations

import random


def backoff_delay(attempt: int, base_delay_s: float, max_delay_s: float,
                  rng: random.Random | None = None) -> float:
    """Seconds to wait after failed attempt number `attempt` (1-based), full jitter."""
    # Full jitter spreads the retries of many deliveries that failed together (an outage) over
    # the whole window instead of stampeding the receiver at the same instants.
    cap = min(max_delay_s, base_delay_s * (2 ** min(max(0, attempt - 1), 62)))
    return (rng or random).uniform(0, cap)


def next_delay(attempt: int, base_delay_s: float, max_delay_s: float, retry_after_s: float | None,
               rng: random.Random | None = None) -> float:
    """The backoff delay, raised to the receiver's Retry-After (itself capped at max_delay_s)."""
    delay = backoff_delay(attempt, base_delay_s, max_delay_s, rng)
    if retry_after_s is not None:
        delay = max(delay, min(retry_after_s, max_delay_s))
    return delay
