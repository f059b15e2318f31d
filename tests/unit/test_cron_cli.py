"""`punctual cron next`, driven through its argparse parser with in-memory streams."""

from __future__ import annotations

import argparse
import io
from datetime import UTC, datetime

import pytest

from api.cron_cli import add_cron_parser, run_cron_next

INVALID = "cron_expression: Schedule is an invalid cron expression"
NEVER = "cron_expression: Schedule will never run again"


def run(*argv: str) -> tuple[int, str, str]:
    parser = argparse.ArgumentParser(prog="punctual")
    add_cron_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["cron", "next", *argv])
    assert args.handler is run_cron_next
    out, err = io.StringIO(), io.StringIO()
    code = args.handler(args, out, err)
    return code, out.getvalue(), err.getvalue()


def test_prints_next_fire_times_in_utc() -> None:
    code, out, err = run(
        "0 9 * * 1", "--timezone", "America/New_York", "--after", "2026-03-01T00:00:00Z", "--count", "3"
    )
    assert (code, err) == (0, "")
    assert out.splitlines() == ["2026-03-02T14:00:00Z", "2026-03-09T13:00:00Z", "2026-03-16T13:00:00Z"]


def test_aws_expression_and_default_count_of_five() -> None:
    code, out, _ = run("00 09 ? * 2,3,4,5,6 *", "--after", "2026-01-02T10:00:00+00:00")
    assert code == 0
    assert out.splitlines() == [f"2026-01-{day:02d}T09:00:00Z" for day in (5, 6, 7, 8, 9)]


def test_nearest_and_last_weekday_in_both_dialects() -> None:
    code, out, err = run("0 9 15W * *", "--timezone", "America/New_York", "--after", "2026-02-01T00:00:00Z",
                         "--count", "2")
    assert (code, err) == (0, "")
    assert out.splitlines() == ["2026-02-16T14:00:00Z", "2026-03-16T13:00:00Z"]  # Feb 15 is a Sunday
    code, out, _ = run("15 8 LW * ? *", "--after", "2026-02-01T00:00:00Z", "--count", "2")
    assert code == 0
    assert out.splitlines() == ["2026-02-27T08:15:00Z", "2026-03-31T08:15:00Z"]  # Feb 28 is a Saturday


def test_after_is_exclusive() -> None:
    _, out, _ = run("0 * * * *", "--after", "2026-01-01T05:00:00Z", "--count", "1")
    assert out == "2026-01-01T06:00:00Z\n"


def test_default_after_is_now() -> None:
    before = datetime.now(UTC)
    code, out, _ = run("* * * * *", "--count", "1")
    assert code == 0
    assert datetime.fromisoformat(out.strip()) > before


def test_stops_early_when_the_schedule_ends() -> None:
    code, out, _ = run("0 0 1 1 ? 2030-2031", "--after", "2026-01-01T00:00:00Z")
    assert code == 0
    assert out.splitlines() == ["2030-01-01T00:00:00Z", "2031-01-01T00:00:00Z"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["61 * * * *"], f"error: {INVALID} (minute 61 out of range 0-59)"),
        (["0 9 * * *", "--timezone", "Mars/Olympus"], "error: timezone: Time zone must be IANA valid."),
        (["0 9 * * *", "--timezone", "EST"],
         'error: timezone: The timezone EST is not supported. Use e.g. "America/New_York" instead of "EST"'),
        (["0 9 * * *", "--after", "yesterday"], "error: after: must be an RFC 3339 timestamp with offset"),
        (["0 9 * * *", "--count", "0"], "error: count: must be a whole number from 1 to 1000"),
        (["0 9 * * *", "--count", "1001"], "error: count: must be a whole number from 1 to 1000"),
        (["0 9 * * *", "--count", "five"], "error: count: must be a whole number from 1 to 1000"),
        (["0 0 1 1 ? 2020", "--after", "2026-01-01T00:00:00Z"], f"error: {NEVER}"),
        (["0 0 30W 2 *"], f"error: {NEVER}"),
        (["0 0 1,15W * *"], f"error: {INVALID} (W takes one day and must be the whole day-of-month field (15W or LW))"),
    ],
)
def test_bad_input_is_one_line_on_stderr_and_exit_2(argv: list[str], message: str) -> None:
    code, out, err = run(*argv)
    assert (code, out) == (2, "")
    assert err == message + "\n"
