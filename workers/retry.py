"""Retry policy: exponential backoff with full jitter."""

from __future__ import annotations

import random


def backoff_delay(attempt: int, base_delay_s: float, max_delay_s: float,
                  rng: random.Random | None = None) -> float:
    """Seconds to wait after failed attempt number `attempt` (1-based), full jitter."""
    cap = min(max_delay_s, base_delay_s * (2 ** max(0, attempt - 1)))
    return (rng or random).uniform(0, cap)
