"""Which time zone names a user may give: IANA names, without the tz database's legacy abbreviations."""

from __future__ import annotations

import zoneinfo
from datetime import UTC, datetime

import pytest

from shared.cron import next_fire_time, validate_schedule, validate_timezone
from shared.errors import InvalidInput
from shared.timezones import INVALID_TIMEZONE, LEGACY_ZONES, zone_named


@pytest.mark.parametrize(
    ("name", "suggestion"),
    [
        ("EST", '"America/New_York"'),
        ("EST5EDT", '"America/New_York"'),
        ("CST6CDT", '"America/Chicago"'),
        ("MST", '"America/Denver" or "America/Phoenix"'),
        ("MST7MDT", '"America/Denver"'),
        ("PST8PDT", '"America/Los_Angeles"'),
        ("HST", '"Pacific/Honolulu"'),
        ("CET", '"Europe/Paris"'),
        ("EET", '"Europe/Athens"'),
        ("WET", '"Europe/Lisbon"'),
        ("MET", '"Europe/Paris"'),
        ("GMT", '"Europe/London" or "UTC"'),
        ("Zulu", '"UTC"'),
        ("Etc/UCT", '"UTC"'),
        ("Universal", '"UTC"'),
    ],
)
def test_legacy_names_are_refused_with_the_zone_to_use(name: str, suggestion: str) -> None:
    with pytest.raises(InvalidInput) as raised:
        validate_timezone(name)
    assert raised.value.detail == (f"timezone: The timezone {name} is not supported. "
                                   f'Use e.g. {suggestion} instead of "{name}"')


def test_est_message_is_exactly_the_documented_one() -> None:
    with pytest.raises(InvalidInput) as raised:
        validate_schedule("0 9 * * *", "EST", datetime(2026, 1, 1, tzinfo=UTC))
    assert raised.value.detail == ('timezone: The timezone EST is not supported. '
                                   'Use e.g. "America/New_York" instead of "EST"')


def test_every_refused_name_is_in_the_tz_database_and_every_suggestion_is_valid() -> None:
    # A name the database lacks would be refused as unknown anyway; a suggestion must itself be accepted.
    available = zoneinfo.available_timezones()
    assert set(LEGACY_ZONES) <= available
    for suggestion in LEGACY_ZONES.values():
        for zone in suggestion.replace(" or ", " ").split():
            assert validate_timezone(zone.strip('"')).key == zone.strip('"')


@pytest.mark.parametrize("name", ["UTC", "Etc/UTC", "America/New_York", "US/Eastern", "Asia/Kolkata",
                                  "Etc/GMT+5", "Europe/London", "America/Phoenix"])
def test_utc_and_geographic_names_stay_valid(name: str) -> None:
    assert validate_timezone(name).key == name


def test_every_geographic_name_in_the_database_is_valid() -> None:
    refused = [name for name in zoneinfo.available_timezones() - {"localtime"}
               if name not in LEGACY_ZONES and not _accepted(name)]
    assert refused == []


def _accepted(name: str) -> bool:
    try:
        validate_timezone(name)
    except InvalidInput:
        return False
    return True


def test_a_schedule_stored_with_a_legacy_zone_still_fires() -> None:
    # Refusing a name is for new input: the engine still evaluates rows saved before (EST: UTC-5 all year).
    assert zone_named("EST").key == "EST"
    assert next_fire_time("0 9 * * *", "EST", datetime(2026, 7, 1, tzinfo=UTC)) == datetime(2026, 7, 1, 14,
                                                                                              tzinfo=UTC)


@pytest.mark.parametrize("name", ["est", "Mars/Olympus", "", "EST\x00"])
def test_unknown_names_keep_the_iana_message(name: str) -> None:
    with pytest.raises(InvalidInput) as raised:
        validate_timezone(name)
    assert raised.value.detail == INVALID_TIMEZONE
