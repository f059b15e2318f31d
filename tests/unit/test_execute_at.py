"""One-shot slots: RFC 3339 with offset, on a 15-minute boundary, at least 15 minutes ahead."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from shared.cron import parse_timestamp, validate_execute_at
from shared.errors import InvalidInput

NOW = datetime(2026, 3, 8, 0, 50, 12, tzinfo=UTC)
NOT_RFC3339 = "execute_at: must be an RFC 3339 timestamp with offset"
NOT_ON_BOUNDARY = "execute_at: must be on a 15-minute boundary (:00, :15, :30, :45) with zero seconds"
TOO_SOON = "execute_at: must be at least 15 minutes in the future"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-03-08T09:15:00Z", datetime(2026, 3, 8, 9, 15, tzinfo=UTC)),
        ("2026-03-08t09:15:00z", datetime(2026, 3, 8, 9, 15, tzinfo=UTC)),
        ("2026-03-08T09:15:00.000+00:00", datetime(2026, 3, 8, 9, 15, tzinfo=UTC)),
        ("2026-03-08T09:00:00-05:00", datetime(2026, 3, 8, 14, 0, tzinfo=UTC)),
        ("2026-03-08T09:00:00+05:30", datetime(2026, 3, 8, 3, 30, tzinfo=UTC)),
        ("2026-03-08T09:00:00+05:45", datetime(2026, 3, 8, 3, 15, tzinfo=UTC)),
        ("2026-03-08T21:45:00+12:45", datetime(2026, 3, 8, 9, 0, tzinfo=UTC)),
    ],
)
def test_valid_slots_are_returned_in_utc(value: str, expected: datetime) -> None:
    got = validate_execute_at(value, NOW)
    assert got == expected
    assert got.tzinfo is UTC


def test_aware_datetime_is_accepted() -> None:
    slot = datetime(2026, 3, 8, 10, 30, tzinfo=timezone(timedelta(hours=1)))
    assert validate_execute_at(slot, NOW) == datetime(2026, 3, 8, 9, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    "value",
    [
        "2026-03-08T09:15:00",  # no offset
        "2026-03-08 09:15",
        "2026-03-08",
        "20260308T091500Z",
        "tomorrow",
        "",
        "2026-13-01T00:00:00Z",
        "2026-02-30T00:00:00Z",
        "2026-03-08T24:00:00Z",
        "2026-03-08T09:15:60Z",
        "2026-03-08T09:15:00+24:00",
        "2026-03-08T09:15:00+01:60",
        "2026-03-08T09:15:00+0100",
        "\uff12026-03-08T09:15:00Z",
        " 2026-03-08T09:15:00Z",
    ],
)
def test_non_rfc3339_is_rejected(value: str) -> None:
    with pytest.raises(InvalidInput) as raised:
        validate_execute_at(value, NOW)
    assert raised.value.detail == NOT_RFC3339


def test_naive_datetime_and_other_types_are_rejected() -> None:
    for value in (datetime(2026, 3, 9, 9, 0), 1772960400):
        with pytest.raises(InvalidInput) as raised:
            validate_execute_at(value, NOW)  # type: ignore[arg-type]
        assert raised.value.detail == NOT_RFC3339


@pytest.mark.parametrize(
    "value",
    [
        "2026-03-08T09:10:00Z",
        "2026-03-08T09:15:30Z",
        "2026-03-08T09:15:00.5Z",
        "2026-03-08T09:15:00.000001Z",
        "2026-03-08T09:15:00+01:07",  # 08:08 UTC
    ],
)
def test_off_boundary_is_rejected(value: str) -> None:
    with pytest.raises(InvalidInput) as raised:
        validate_execute_at(value, NOW)
    assert raised.value.detail == NOT_ON_BOUNDARY


def test_exactly_fifteen_minutes_ahead_is_accepted() -> None:
    now = datetime(2026, 3, 8, 9, 0, tzinfo=UTC)
    assert validate_execute_at("2026-03-08T09:15:00Z", now) == now + timedelta(minutes=15)


@pytest.mark.parametrize("value", ["2026-03-08T01:00:00Z", "2026-03-08T00:45:00Z", "2020-01-01T00:00:00Z"])
def test_too_soon_or_past_is_rejected(value: str) -> None:
    with pytest.raises(InvalidInput) as raised:
        validate_execute_at(value, NOW)  # 01:00 is less than 15 minutes after 00:50:12
    assert raised.value.detail == TOO_SOON


def test_parse_timestamp_names_its_field() -> None:
    assert parse_timestamp("2026-03-08T09:15:07.25+01:00", "after") == datetime(
        2026, 3, 8, 8, 15, 7, 250000, tzinfo=UTC
    )
    with pytest.raises(InvalidInput) as raised:
        parse_timestamp("yesterday", "after")
    assert raised.value.detail == "after: must be an RFC 3339 timestamp with offset"
