"""`punctual cron next EXPRESSION [--timezone TZ] [--after RFC3339] [--count N]`."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from typing import TextIO

from shared.cron import next_fire_times, parse_expression, parse_timestamp, validate_schedule, validate_timezone
from shared.errors import InvalidInput

DEFAULT_COUNT = 5
MAX_COUNT = 1000


def add_cron_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register `cron next`; the parsed namespace carries `handler=run_cron_next`."""
    cron = subparsers.add_parser("cron", help="cron expressions")
    commands = cron.add_subparsers(dest="cron_command", required=True)
    next_parser = commands.add_parser(
        "next",
        help="print the next fire times, one RFC 3339 UTC timestamp a line",
        description="Print the next fire times of a Unix (5-field) or AWS (6-field) cron expression.",
    )
    next_parser.add_argument("expression", help='e.g. "0 9 * * MON" or "0 9 ? * 2-6 *"')
    next_parser.add_argument("--timezone", default="UTC", help="IANA time zone (default UTC)")
    next_parser.add_argument("--after", default=None, help="RFC 3339 timestamp with offset (default now)")
    next_parser.add_argument(
        "--count", default=str(DEFAULT_COUNT), help=f"how many (1-{MAX_COUNT}, default {DEFAULT_COUNT})"
    )
    next_parser.set_defaults(handler=run_cron_next)


def run_cron_next(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Print the next fire times strictly after --after; 2 and one line on `err` for bad input."""
    try:
        parse_expression(args.expression)
        validate_timezone(args.timezone)
        after = datetime.now(UTC) if args.after is None else parse_timestamp(args.after, "after")
        count = _count(args.count)
        validate_schedule(args.expression, args.timezone, after)
        times = next_fire_times(args.expression, args.timezone, after, count)
    except InvalidInput as error:
        print(f"error: {error.detail}", file=err)
        return 2
    for moment in times:
        print(moment.strftime("%Y-%m-%dT%H:%M:%SZ"), file=out)
    return 0


def _count(text: object) -> int:
    value = str(text)
    if not value.isascii() or not value.isdigit() or not 1 <= int(value) <= MAX_COUNT:
        raise InvalidInput(f"count: must be a whole number from 1 to {MAX_COUNT}")
    return int(value)
