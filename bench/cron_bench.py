"""Time engine benchmark: next-fire computations per second, Punctual against raw croniter.

    .venv/bin/python bench/cron_bench.py            # full run
    .venv/bin/python bench/cron_bench.py --quick    # smaller, for a smoke test

Scenarios:
  (a) cold     one distinct expression at a time: every call parses a fresh expression, builds its
               croniter objects and misses the fire-time memo; all caches start empty except the
               zone offset tables (warm, as in a running process); per-field parse caches fill as
               the run goes;
  (a') cold+tz the same with the zone offset tables cleared too (a process's first minutes);
  (a'') chain  one expression at a time, as a schedule's own life asks: 200 expressions, each
               asked for 50 successive fire times (each `after` is the previous answer, so the
               fire-time memo never answers; the parsed expression and croniter object are reused);
  (b) beat     the beat pattern: batches of 10,000 schedules due in the same slot, sharing a few
               hundred distinct (expression, zone) pairs; each batch asks for the next fire time
               after its slot, so each distinct pair computes at most once a batch (not at all
               while its previous answer is still ahead of the slot) and the rest hit the memo.
Punctual's wall-time search is croniter too (naive wall times, one cached object per translated
expression), under our dialect, year and DST layer and memo.
Baseline: `croniter(expr, start).get_next(datetime)` for the same Unix expressions (croniter reads
a 6th field as seconds, so AWS expressions get their Unix twin), constructed per call, no cache.
Prints one table.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from croniter import croniter

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from shared.cron import clear_caches, next_fire_time

ZONES = (
    "UTC", "America/New_York", "Europe/London", "Europe/Berlin", "Asia/Tokyo", "Asia/Kolkata",
    "Asia/Kathmandu", "Australia/Sydney", "Australia/Lord_Howe", "America/Santiago",
    "America/Sao_Paulo", "America/Los_Angeles", "Pacific/Chatham", "Africa/Casablanca",
)
SLOT = datetime(2026, 3, 8, 6, 0, tzinfo=UTC)  # a Sunday: New York springs forward at 07:00 UTC


def expression_pair(rng: random.Random) -> tuple[str, str]:
    """A random (Unix, AWS) pair describing the same schedule."""
    step = rng.choice([5, 10, 15, 30])
    minute = rng.choice([str(rng.randrange(60)), f"*/{step}", "0,30", f"{rng.randrange(15)}-59/15"])
    hour = rng.choice(["*", str(rng.randrange(24)), f"{rng.randrange(8)}-{rng.randrange(8, 24)}", "*/6", "9,17"])
    day = rng.randrange(7)
    unix_dow, aws_dow, dom = rng.choice([
        ("*", "?", "*"),
        (str(day), str(day + 1), "?"),
        ("1-5", "2-6", "?"),
        (f"{day}#{rng.randrange(1, 5)}", f"{day + 1}#{rng.randrange(1, 5)}", "?"),
        ("*", "?", str(rng.randrange(1, 29))),
        ("*", "?", "L"),
    ])
    unix = f"{minute} {hour} {'*' if dom == '?' else dom} * {unix_dow}"
    aws = f"{minute} {hour} {dom} * {aws_dow} *"
    return unix, aws


def distinct_pairs(count: int, seed: int) -> list[tuple[str, str, str]]:
    """`count` distinct (Unix, AWS, zone) triples."""
    rng = random.Random(seed)
    seen: dict[tuple[str, str], tuple[str, str, str]] = {}
    while len(seen) < count:
        unix, aws = expression_pair(rng)
        zone = rng.choice(ZONES)
        seen.setdefault((unix, zone), (unix, aws, zone))
    return list(seen.values())


def rate(calls: int, run: Callable[[], None]) -> float:
    started = time.perf_counter()
    run()
    return calls / (time.perf_counter() - started)


def bench_cold(pairs: Sequence[tuple[str, str, str]], clear_zones: bool) -> float:
    warm = distinct_pairs(len(ZONES) * 4, seed=99)
    for unix, _, zone in warm:  # zone tables for the years in play, as in a running process
        next_fire_time(unix, zone, SLOT)
    clear_caches(zones=clear_zones)

    def run() -> None:
        for index, (unix, aws, zone) in enumerate(pairs):
            next_fire_time(aws if index % 2 else unix, zone, SLOT)

    return rate(len(pairs), run)


def bench_croniter(pairs: Sequence[tuple[str, str, str]]) -> float:
    starts = {zone: SLOT.astimezone(ZoneInfo(zone)) for zone in ZONES}

    def run() -> None:
        for unix, _, zone in pairs:
            croniter(unix, starts[zone]).get_next(datetime)

    return rate(len(pairs), run)


def bench_chain(pairs: Sequence[tuple[str, str, str]], steps: int) -> tuple[float, float]:
    """(Punctual, croniter per call) next-fire/s walking each expression through successive slots."""
    clear_caches(zones=False)

    def ours() -> None:
        for index, (unix, aws, zone) in enumerate(pairs):
            expression, after = (aws if index % 2 else unix), SLOT
            for _ in range(steps):
                fire = next_fire_time(expression, zone, after)
                if fire is None:
                    break
                after = fire

    def theirs() -> None:
        for unix, _, zone in pairs:
            after = SLOT.astimezone(ZoneInfo(zone))
            for _ in range(steps):
                after = croniter(unix, after).get_next(datetime)

    return rate(len(pairs) * steps, ours), rate(len(pairs) * steps, theirs)


def bench_beat(schedules: int, distinct: int, batches: int) -> tuple[float, float]:
    """(Punctual, croniter) next-fire computations per second for beat-sized batches."""
    pairs = distinct_pairs(distinct, seed=7)
    rng = random.Random(11)
    due = [rng.choice(pairs) for _ in range(schedules)]
    due_aws = [(aws if index % 2 else unix, zone) for index, (unix, aws, zone) in enumerate(due)]
    clear_caches()

    def run() -> None:
        for batch in range(batches):
            slot = SLOT + timedelta(minutes=batch)
            for expression, zone in due_aws:
                next_fire_time(expression, zone, slot)

    ours = rate(schedules * batches, run)
    theirs = bench_croniter(due)
    return ours, theirs


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="fewer expressions and batches")
    args = parser.parse_args(argv)
    cold_count, batches = (2_000, 3) if args.quick else (20_000, 10)
    fresh = distinct_pairs(cold_count, seed=1)
    cold = bench_cold(fresh, clear_zones=False)
    cold_zones = bench_cold(distinct_pairs(cold_count, seed=2), clear_zones=True)
    baseline_cold = bench_croniter(fresh)
    chain, baseline_chain = bench_chain(distinct_pairs(200, seed=3), 10 if args.quick else 50)
    beat, baseline_beat = bench_beat(10_000, 300, batches)

    rows = [
        ("scenario", "punctual next-fire/s", "croniter get_next/s", "target"),
        (f"(a) cold: {cold_count:,} distinct expressions, one at a time", f"{cold:,.0f}", f"{baseline_cold:,.0f}",
         ">= 5,000"),
        ("(a') cold, zone offset tables cleared too", f"{cold_zones:,.0f}", "-", "-"),
        ("(a'') one expression at a time, successive slots", f"{chain:,.0f}", f"{baseline_chain:,.0f}",
         ">= 5,000"),
        (f"(b) beat: {batches} slots x 10,000 due, 300 distinct (expr, zone)", f"{beat:,.0f}",
         f"{baseline_beat:,.0f}", ">= 50,000"),
    ]
    widths = [max(len(row[column]) for row in rows) for column in range(4)]
    for index, row in enumerate(rows):
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)))
        if index == 0:
            print("  ".join("-" * width for width in widths))
    print(f"python {sys.version.split()[0]}; croniter {croniter_version()}; half of the expressions are AWS")
    return 0


def croniter_version() -> str:
    from importlib.metadata import version

    return version("croniter")


if __name__ == "__main__":
    raise SystemExit(main())
