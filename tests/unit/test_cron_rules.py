"""The time engine's rules, one behaviour a test, each for both dialects where it applies."""

from __future__ import annotations

import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest

from shared.cron import (
    INVALID_EXPRESSION,
    INVALID_TIMEZONE,
    NEVER_RUNS_AGAIN,
    clear_caches,
    describe_expression,
    dialect_of,
    fire_times_between,
    next_fire_time,
    next_fire_times,
    parse_expression,
    validate_schedule,
    validate_timezone,
)
from shared.errors import InvalidInput


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def local(zone: str, year: int, month: int, day: int, hour: int, minute: int, fold: int = 0) -> datetime:
    """The UTC instant of a wall time in `zone` (fold=1: the second pass of a repeated hour)."""
    return datetime(year, month, day, hour, minute, tzinfo=validate_timezone(zone), fold=fold).astimezone(UTC)


def fires(expression: str, zone: str, after: datetime, until: datetime) -> list[datetime]:
    return fire_times_between(expression, zone, after, until, limit=10_000)


def both(unix: str, aws: str) -> pytest.MarkDecorator:
    return pytest.mark.parametrize("expression", [unix, aws], ids=["unix", "aws"])


NY = "America/New_York"

# --- DST ----------------------------------------------------------------------------------------


@both("30 1 * * *", "30 1 ? * * *")
def test_fall_back_fires_fixed_time_once(expression: str) -> None:
    # 2024-11-03: New York shows 01:00-01:59 twice (EDT, then EST).
    assert fires(expression, NY, utc(2024, 11, 2, 12), utc(2024, 11, 4, 12)) == [
        local(NY, 2024, 11, 3, 1, 30, fold=0),
        local(NY, 2024, 11, 4, 1, 30),
    ]


@both("30 1 * * *", "30 1 ? * * *")
def test_fall_back_from_inside_the_repeated_hour_waits_for_tomorrow(expression: str) -> None:
    second_pass = local(NY, 2024, 11, 3, 1, 10, fold=1)
    assert next_fire_time(expression, NY, second_pass) == local(NY, 2024, 11, 4, 1, 30)


@both("30 2 * * *", "30 2 ? * * *")
def test_spring_forward_fixed_time_fires_after_gap(expression: str) -> None:
    # 2024-03-10: New York skips 02:00-02:59; the 02:30 slot fires once, at 03:00 EDT.
    assert fires(expression, NY, utc(2024, 3, 9, 12), utc(2024, 3, 11, 12)) == [
        local(NY, 2024, 3, 10, 3, 0),
        local(NY, 2024, 3, 11, 2, 30),
    ]


@both("0,30 2,3 * * *", "0,30 2,3 ? * * *")
def test_spring_forward_slots_collapsing_on_one_instant_fire_once(expression: str) -> None:
    # 02:00, 02:30 (skipped) and 03:00 all land on 03:00 EDT.
    assert fires(expression, NY, utc(2024, 3, 10, 0), utc(2024, 3, 10, 12)) == [
        local(NY, 2024, 3, 10, 3, 0),
        local(NY, 2024, 3, 10, 3, 30),
    ]


@both("0 1-3 * * *", "0 1-3 ? * * *")
def test_hour_range_is_fixed_time(expression: str) -> None:
    assert parse_expression(expression).fixed_time
    assert fires(expression, NY, utc(2024, 11, 3, 0), utc(2024, 11, 3, 12)) == [
        local(NY, 2024, 11, 3, 1, 0, fold=0),
        local(NY, 2024, 11, 3, 2, 0),
        local(NY, 2024, 11, 3, 3, 0),
    ]


@both("*/30 * * * *", "*/30 * ? * * *")
def test_wildcard_follows_real_time_on_fall_back(expression: str) -> None:
    assert not parse_expression(expression).fixed_time
    after = utc(2024, 11, 3, 4)  # 00:00 EDT
    assert fires(expression, NY, after, utc(2024, 11, 3, 8)) == [
        after + timedelta(minutes=30 * n) for n in range(1, 9)
    ]
    assert local(NY, 2024, 11, 3, 1, 30, fold=1) in fires(expression, NY, after, utc(2024, 11, 3, 8))


@both("*/20 1 * * *", "*/20 1 ? * * *")
def test_wildcard_fires_both_occurrences_of_a_repeated_hour(expression: str) -> None:
    first = [local(NY, 2024, 11, 3, 1, m, fold=0) for m in (0, 20, 40)]
    second = [local(NY, 2024, 11, 3, 1, m, fold=1) for m in (0, 20, 40)]
    assert fires(expression, NY, utc(2024, 11, 3, 0), utc(2024, 11, 3, 12)) == first + second


@both("*/20 2 * * *", "*/20 2 ? * * *")
def test_wildcard_fires_nothing_inside_the_gap(expression: str) -> None:
    assert fires(expression, NY, utc(2024, 3, 10, 0), utc(2024, 3, 10, 23)) == []
    assert next_fire_time(expression, NY, utc(2024, 3, 10, 0)) == local(NY, 2024, 3, 11, 2, 0)


def test_wildcard_last_fires_of_final_year_repeat_on_fall_back() -> None:
    # The last matching wall times ever are in the repeated hour: both passes still fire.
    times = next_fire_times("* 1 3 11 ? 2024", NY, utc(2024, 11, 3, 0), 500)
    assert len(times) == 120
    assert times[-1] == local(NY, 2024, 11, 3, 1, 59, fold=1)


LORD_HOWE = "Australia/Lord_Howe"


@both("45 1 * * *", "45 1 ? * * *")
def test_lord_howe_half_hour_fall_back_fires_fixed_time_once(expression: str) -> None:
    # 2024-04-07 02:00 +11 becomes 01:30 +10:30: 01:30-01:59 happens twice.
    assert fires(expression, LORD_HOWE, utc(2024, 4, 6, 0), utc(2024, 4, 7, 12)) == [
        local(LORD_HOWE, 2024, 4, 7, 1, 45, fold=0)
    ]


@both("*/15 1 * * *", "*/15 1 ? * * *")
def test_lord_howe_half_hour_fall_back_wildcard_repeats_half_an_hour(expression: str) -> None:
    got = fires(expression, LORD_HOWE, utc(2024, 4, 6, 0), utc(2024, 4, 7, 12))
    assert [t.astimezone(validate_timezone(LORD_HOWE)).strftime("%H:%M%z") for t in got] == [
        "01:00+1100", "01:15+1100", "01:30+1100", "01:45+1100", "01:30+1030", "01:45+1030",
    ]


@both("15 2 * * *", "15 2 ? * * *")
def test_lord_howe_half_hour_spring_forward_fires_at_gap_end(expression: str) -> None:
    # 2024-10-06 02:00 +10:30 becomes 02:30 +11.
    assert next_fire_time(expression, LORD_HOWE, utc(2024, 10, 5, 12)) == local(LORD_HOWE, 2024, 10, 6, 2, 30)
    assert fires("*/15 2 * * *", LORD_HOWE, utc(2024, 10, 5, 12), utc(2024, 10, 5, 17)) == [
        local(LORD_HOWE, 2024, 10, 6, 2, 30),
        local(LORD_HOWE, 2024, 10, 6, 2, 45),
    ]


SANTIAGO = "America/Santiago"


@both("0 0 * * *", "0 0 ? * * *")
def test_santiago_skipped_midnight_fires_at_one(expression: str) -> None:
    # 2024-09-08: Santiago goes from 23:59:59 -04 to 01:00 -03; midnight never happens.
    assert fires(expression, SANTIAGO, utc(2024, 9, 7, 12), utc(2024, 9, 9, 12)) == [
        local(SANTIAGO, 2024, 9, 8, 1, 0),
        local(SANTIAGO, 2024, 9, 9, 0, 0),
    ]


@both("0 0 8 9 *", "0 0 8 9 ? *")
def test_santiago_skipped_midnight_still_fires_on_its_day(expression: str) -> None:
    assert next_fire_time(expression, SANTIAGO, utc(2024, 9, 1)) == utc(2024, 9, 8, 4)


@both("*/30 0 * * *", "*/30 0 ? * * *")
def test_santiago_wildcard_fires_nothing_on_the_day_without_midnight(expression: str) -> None:
    assert fires(expression, SANTIAGO, utc(2024, 9, 8, 2), utc(2024, 9, 9, 2)) == []


@both("30 23 * * *", "30 23 ? * * *")
def test_santiago_fall_back_repeats_the_evening_fixed_fires_once(expression: str) -> None:
    # 2024-04-07 00:00 -03 becomes 2024-04-06 23:00 -04.
    assert fires(expression, SANTIAGO, utc(2024, 4, 6, 12), utc(2024, 4, 7, 12)) == [
        local(SANTIAGO, 2024, 4, 6, 23, 30, fold=0)
    ]
    assert len(fires("*/30 23 * * *", SANTIAGO, utc(2024, 4, 6, 12), utc(2024, 4, 7, 12))) == 4


LONDON = "Europe/London"


@both("30 1 * * *", "30 1 ? * * *")
def test_london_both_transitions(expression: str) -> None:
    # 2024-03-31 01:00 GMT -> 02:00 BST (01:30 skipped); 2024-10-27 02:00 BST -> 01:00 GMT (repeated).
    assert next_fire_time(expression, LONDON, utc(2024, 3, 30, 12)) == utc(2024, 3, 31, 1, 0)
    assert fires(expression, LONDON, utc(2024, 10, 26, 12), utc(2024, 10, 27, 12)) == [utc(2024, 10, 27, 0, 30)]


@both("0 9 * * 1", "0 9 ? * 2 *")
def test_new_york_monday_nine_across_spring_forward(expression: str) -> None:
    assert next_fire_times(expression, NY, utc(2024, 3, 1), 3) == [
        utc(2024, 3, 4, 14), utc(2024, 3, 11, 13), utc(2024, 3, 18, 13)
    ]


@both("0 3 * * *", "0 3 ? * * *")
def test_chatham_quarter_hour_offset_gap(expression: str) -> None:
    # 2024-09-29 02:45 +12:45 becomes 03:45 +13:45.
    assert next_fire_time(expression, "Pacific/Chatham", utc(2024, 9, 28, 0)) == utc(2024, 9, 28, 14)


@both("0 9 * * *", "0 9 ? * * *")
def test_kathmandu_quarter_hour_offset(expression: str) -> None:
    assert next_fire_time(expression, "Asia/Kathmandu", utc(2026, 1, 1)) == utc(2026, 1, 1, 3, 15)


# --- fields -------------------------------------------------------------------------------------


def test_sixth_field_is_year_not_seconds() -> None:
    assert dialect_of("0 9 * * * *") == "aws"
    # Read as seconds it would fire at second 0 of every minute; as a year it is every day at 09:00.
    assert next_fire_times("0 9 ? * * *", "UTC", utc(2026, 1, 1), 2) == [utc(2026, 1, 1, 9), utc(2026, 1, 2, 9)]
    assert next_fire_time("0 9 ? * * 2027", "UTC", utc(2026, 1, 1)) == utc(2027, 1, 1, 9)
    assert next_fire_time("0 0 1 1 ? 2099", "UTC", utc(2026, 1, 1)) == utc(2099, 1, 1)
    assert next_fire_time("0 0 1 1 ? 2099", "UTC", utc(2099, 1, 1)) is None
    with pytest.raises(InvalidInput):
        parse_expression("0 9 * * * 30")  # 30 is a second, never a year


@both("0 9 13 * FRI", "0 9 13 * 6 *")
def test_both_day_fields_restricted_match_either(expression: str) -> None:
    days = [t.date().isoformat() for t in fires(expression, "UTC", utc(2026, 2, 1), utc(2026, 3, 31))]
    assert days == [
        "2026-02-06", "2026-02-13", "2026-02-20", "2026-02-27",
        "2026-03-06", "2026-03-13", "2026-03-20", "2026-03-27",
    ]
    assert fires(expression, "UTC", utc(2026, 4, 1), utc(2026, 4, 14))[-1] == utc(2026, 4, 13, 9)


@both("0 9 */2 * MON", "0 9 */2 * 2 *")
def test_day_field_starting_with_star_narrows_the_other(expression: str) -> None:
    # Classic cron: a day field starting with `*` (here `*/2`, the odd days) is ANDed with the other.
    days = [t.day for t in fires(expression, "UTC", utc(2026, 6, 1), utc(2026, 8, 31, 12))]
    assert days == [1, 15, 29, 13, 27, 3, 17, 31]


@both("0 */6 * * *", "0 */6 * * ? *")
def test_every_six_hours(expression: str) -> None:
    assert next_fire_times(expression, "UTC", utc(2026, 1, 1, 1), 3) == [
        utc(2026, 1, 1, 6), utc(2026, 1, 1, 12), utc(2026, 1, 1, 18)
    ]


@pytest.mark.parametrize(
    "expression", ["0 9 * * 0", "0 9 * * 7", "0 9 * * 7/2", "0 9 * * SUN", "0 9 ? * 1 *", "0 9 ? * sun *"]
)
def test_sunday_spellings(expression: str) -> None:
    assert next_fire_time(expression, "UTC", utc(2026, 1, 1)) == utc(2026, 1, 4, 9)


def test_weekdays_in_aws_numbering() -> None:
    got = next_fire_times("00 09 ? * 2,3,4,5,6 *", "UTC", utc(2026, 1, 2, 10), 5)
    assert [t.strftime("%a") for t in got] == ["Mon", "Tue", "Wed", "Thu", "Fri"]
    assert got == next_fire_times("0 9 * * MON-FRI", "UTC", utc(2026, 1, 2, 10), 5)


@both("0 0 L * *", "0 0 L * ? *")
def test_last_day_of_month(expression: str) -> None:
    assert [t.day for t in next_fire_times(expression, "UTC", utc(2028, 1, 5), 3)] == [31, 29, 31]


@both("0 0 * * 1#2", "0 0 ? * 2#2 *")
def test_nth_weekday_of_month(expression: str) -> None:
    assert next_fire_times(expression, "UTC", utc(2026, 1, 1), 2) == [utc(2026, 1, 12), utc(2026, 2, 9)]


@both("0 0 * * 5L", "0 0 ? * 6L *")
def test_last_weekday_of_month(expression: str) -> None:
    assert next_fire_times(expression, "UTC", utc(2026, 1, 1), 2) == [utc(2026, 1, 30), utc(2026, 2, 27)]


def test_names_ranges_steps_and_lists() -> None:
    got = next_fire_times("5/20 8-9 * jan-feb,DEC Mon", "UTC", utc(2026, 1, 4), 7)
    assert [t.strftime("%m-%d %H:%M") for t in got] == [
        "01-05 08:05", "01-05 08:25", "01-05 08:45", "01-05 09:05", "01-05 09:25", "01-05 09:45", "01-12 08:05"
    ]


def test_results_are_utc_aware_and_strictly_after() -> None:
    first = next_fire_time("0 9 * * *", NY, utc(2026, 1, 1))
    assert first is not None and first.tzinfo is UTC
    assert next_fire_time("0 9 * * *", NY, first) == first + timedelta(days=1)
    assert next_fire_time("0 9 * * *", NY, first - timedelta(microseconds=1)) == first


def test_fire_times_between_is_after_exclusive_until_inclusive_and_limited() -> None:
    got = fire_times_between("0 * * * *", "UTC", utc(2026, 1, 1, 0), utc(2026, 1, 1, 5), limit=10)
    assert got == [utc(2026, 1, 1, h) for h in range(1, 6)]
    assert fire_times_between("0 * * * *", "UTC", utc(2026, 1, 1), utc(2026, 1, 2), limit=2) == got[:2]
    assert fire_times_between("0 * * * *", "UTC", utc(2026, 1, 1), utc(2026, 1, 2), limit=0) == []


def test_naive_datetimes_are_a_programming_error() -> None:
    with pytest.raises(ValueError):
        next_fire_time("0 9 * * *", "UTC", datetime(2026, 1, 1))


@both("0 9 1 * */2", "0 9 1 * */2 *")
def test_stepped_star_in_day_of_week_narrows_the_day_of_month(expression: str) -> None:
    # `*/2` starts with `*`: unrestricted for the OR rule, so day 1 must also be a Sun/Tue/Thu/Sat.
    days = [t.date().isoformat() for t in fires(expression, "UTC", utc(2026, 1, 1), utc(2026, 12, 31))]
    assert days == ["2026-01-01", "2026-02-01", "2026-03-01", "2026-08-01", "2026-09-01", "2026-10-01",
                    "2026-11-01", "2026-12-01"]


@both("0 9 1-31 * MON", "0 9 1-31 * 2 *")
def test_a_day_range_naming_every_day_is_still_restricted(expression: str) -> None:
    # `1-31` does not start with `*`: both fields are restricted and either may match, so every day.
    assert len(fires(expression, "UTC", utc(2026, 1, 1), utc(2026, 1, 8))) == 7


@both("0 9 * * MON-SUN", "0 9 ? * MON-SUN *")
def test_weekday_range_ending_on_sunday_by_name_runs_through_sunday(expression: str) -> None:
    got = next_fire_times(expression, "UTC", utc(2026, 1, 4, 10), 7)  # from Sunday after 09:00
    assert [t.strftime("%a") for t in got] == ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]


@pytest.mark.parametrize(
    ("expression", "weekdays"),
    [
        ("0 9 * * TUE-SUN", ["Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]),
        ("0 9 ? * TUE-SUN *", ["Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]),
        ("0 9 * * SAT-SUN", ["Sat", "Sun"]),
        ("0 9 ? * SAT-SUN *", ["Sat", "Sun"]),
        ("0 9 * * 5-SUN", ["Fri", "Sat", "Sun"]),
        ("0 9 * * MON-SUN/2", ["Mon", "Wed", "Fri", "Sun"]),
        ("0 9 ? * MON-SUN/2 *", ["Mon", "Wed", "Fri", "Sun"]),
        ("0 9 * * SUN-SUN", ["Sun"]),
        ("0 9 ? * SUN-SUN *", ["Sun"]),
    ],
)
def test_ranges_through_sunday(expression: str, weekdays: list[str]) -> None:
    got = fires(expression, "UTC", utc(2026, 1, 4, 10), utc(2026, 1, 11, 10))  # Sunday to Sunday
    assert sorted({t.strftime("%a") for t in got}, key=["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"].index) \
        == weekdays


# --- W and LW: the nearest and the last weekday of the month --------------------------------------


def days_fired(expression: str, after: datetime, until: datetime, zone: str = "UTC") -> list[str]:
    return [t.astimezone(validate_timezone(zone)).strftime("%a %Y-%m-%d %H:%M")
            for t in fires(expression, zone, after, until)]


@both("0 9 15W * *", "0 9 15W * ? *")
def test_nearest_weekday_moves_a_weekend_fifteenth(expression: str) -> None:
    # 2026: Feb 15 is a Sunday (the Monday after), Aug 15 a Saturday (the Friday before).
    assert days_fired(expression, utc(2026, 1, 1), utc(2026, 9, 1)) == [
        "Thu 2026-01-15 09:00", "Mon 2026-02-16 09:00", "Mon 2026-03-16 09:00", "Wed 2026-04-15 09:00",
        "Fri 2026-05-15 09:00", "Mon 2026-06-15 09:00", "Wed 2026-07-15 09:00", "Fri 2026-08-14 09:00",
    ]


@both("0 9 1W * *", "0 9 1W * ? *")
def test_nearest_weekday_to_a_saturday_first_is_monday_the_third(expression: str) -> None:
    # Aug 1 2026 is a Saturday: the Friday before is in July, so Monday the 3rd. Feb 1 is a Sunday.
    assert days_fired(expression, utc(2026, 7, 2), utc(2026, 8, 31)) == ["Mon 2026-08-03 09:00"]
    assert days_fired(expression, utc(2026, 1, 2), utc(2026, 2, 28)) == ["Mon 2026-02-02 09:00"]


@both("0 9 31W * *", "0 9 31W * ? *")
def test_nearest_weekday_to_the_31st_stays_in_its_month_and_skips_short_months(expression: str) -> None:
    # May 31 2026 is a Sunday that ends the month: the Friday before. Oct 31 is a Saturday.
    # February, April, June, September and November have no 31st, so nothing fires in them.
    assert days_fired(expression, utc(2026, 2, 1), utc(2026, 12, 1)) == [
        "Tue 2026-03-31 09:00", "Fri 2026-05-29 09:00", "Fri 2026-07-31 09:00", "Mon 2026-08-31 09:00",
        "Fri 2026-10-30 09:00",
    ]


@both("15 8 LW * *", "15 8 LW * ? *")
def test_last_weekday_of_the_month(expression: str) -> None:
    # Feb 28 2026 is a Saturday, May 31 a Sunday, Jan 31 2027 a Sunday, Feb 28 2027 a Sunday.
    assert days_fired(expression, utc(2026, 2, 1), utc(2026, 6, 1)) == [
        "Fri 2026-02-27 08:15", "Tue 2026-03-31 08:15", "Thu 2026-04-30 08:15", "Fri 2026-05-29 08:15",
    ]
    assert days_fired(expression, utc(2027, 1, 1), utc(2027, 3, 1)) == ["Fri 2027-01-29 08:15",
                                                                         "Fri 2027-02-26 08:15"]


@both("0 0 LW 2 *", "0 0 LW 2 ? *")
def test_last_weekday_of_a_leap_february(expression: str) -> None:
    # Feb 29 2028 is a Tuesday; Feb 29 2032 a Sunday, so its Friday the 27th.
    assert [t.date().isoformat() for t in next_fire_times(expression, "UTC", utc(2028, 1, 1), 5)] == [
        "2028-02-29", "2029-02-28", "2030-02-28", "2031-02-28", "2032-02-27",
    ]


@both("0 0 29W 2 *", "0 0 29W 2 ? *")
def test_nearest_weekday_to_february_29th_fires_in_leap_years_only(expression: str) -> None:
    assert [t.date().isoformat() for t in next_fire_times(expression, "UTC", utc(2027, 1, 1), 2)] == [
        "2028-02-29", "2032-02-27",
    ]


@pytest.mark.parametrize("expression", ["0 0 30W 2 *", "0 0 31W 4,6,9,11 *", "0 0 31W 2 ? *"])
def test_nearest_weekday_to_a_day_the_months_never_have_never_runs(expression: str) -> None:
    with pytest.raises(InvalidInput) as raised:
        validate_schedule(expression, NY, utc(2026, 1, 1))
    assert raised.value.detail == NEVER_RUNS_AGAIN


@both("0 9 8W * *", "0 9 8W * ? *")
def test_nearest_weekday_keeps_its_wall_time_across_new_york_dst(expression: str) -> None:
    # Mar 8 2026 (the spring-forward Sunday) and Nov 8 (a week after fall-back) are Sundays: the
    # Monday after, at 09:00 local, in EST, then EDT, then EST again. Aug 8 is a Saturday.
    got = fires(expression, NY, utc(2026, 2, 1), utc(2026, 12, 1))
    assert got[1] == local(NY, 2026, 3, 9, 9, 0) == utc(2026, 3, 9, 13)
    assert got[0] == utc(2026, 2, 9, 14) and got[-1] == utc(2026, 11, 9, 14)
    assert [t.astimezone(validate_timezone(NY)).strftime("%m-%d %H:%M %Z") for t in got] == [
        "02-09 09:00 EST", "03-09 09:00 EDT", "04-08 09:00 EDT", "05-08 09:00 EDT", "06-08 09:00 EDT",
        "07-08 09:00 EDT", "08-07 09:00 EDT", "09-08 09:00 EDT", "10-08 09:00 EDT", "11-09 09:00 EST",
    ]


@both("30 1 2W 11 *", "30 1 2W 11 ? *")
def test_nearest_weekday_after_new_york_fall_back_fires_once(expression: str) -> None:
    # Nov 1 2026 is the fall-back Sunday; 2W is Monday Nov 2, 01:30 EST, once.
    assert fires(expression, NY, utc(2026, 10, 30), utc(2026, 11, 30)) == [local(NY, 2026, 11, 2, 1, 30)]


@both("30 2 LW * *", "30 2 LW * ? *")
def test_last_weekday_at_a_fixed_time_across_new_york_spring_forward(expression: str) -> None:
    # The DST change is on Mar 8; the last weekday of March 2026 is Tuesday the 31st, in EDT.
    assert fires(expression, NY, utc(2026, 3, 1), utc(2026, 4, 1)) == [local(NY, 2026, 3, 31, 2, 30)]


CAIRO = "Africa/Cairo"


@both("0 0 26W 4 *", "0 0 26W 4 ? 2024")
def test_nearest_weekday_on_a_spring_forward_day_fires_after_the_gap(expression: str) -> None:
    # Cairo skipped midnight on Friday Apr 26 2024 (00:00 EET became 01:00 EEST).
    assert fires(expression, CAIRO, utc(2024, 4, 20), utc(2024, 4, 30)) == [utc(2024, 4, 25, 22)]


@both("30 23 31W 10 *", "30 23 31W 10 ? 2024")
def test_nearest_weekday_on_a_fall_back_day_fires_once(expression: str) -> None:
    # Cairo repeated 23:00-23:59 on Thursday Oct 31 2024: the first 23:30, in EEST, only.
    assert fires(expression, CAIRO, utc(2024, 10, 30), utc(2024, 11, 2)) == [utc(2024, 10, 31, 20, 30)]


@both("0 9 15W * MON", "0 9 15W * 2 *")
def test_nearest_weekday_with_a_restricted_day_of_week_matches_either(expression: str) -> None:
    # Both fields restricted: the weekday nearest the 15th OR every Monday.
    days = [t.day for t in fires(expression, "UTC", utc(2026, 2, 1), utc(2026, 2, 28))]
    assert days == [2, 9, 16, 23]  # Feb 15 2026 is a Sunday: its nearest weekday is Monday the 16th
    assert [t.day for t in fires(expression, "UTC", utc(2026, 1, 1), utc(2026, 1, 31))] == [5, 12, 15, 19, 26]


@both("0 9 15W * */2", "0 9 15W * */2 *")
def test_nearest_weekday_with_a_stepped_star_day_of_week_must_match_both(expression: str) -> None:
    # `*/2` (Sun, Tue, Thu, Sat) starts with `*`: the nearest weekday must also be one of them.
    days = [t.date().isoformat() for t in fires(expression, "UTC", utc(2026, 1, 1), utc(2026, 12, 31))]
    assert days == ["2026-01-15", "2026-09-15", "2026-10-15", "2026-12-15"]


@both("*/30 9 LW * *", "*/30 9 LW * ? *")
def test_wildcard_minutes_on_the_last_weekday(expression: str) -> None:
    assert fires(expression, "UTC", utc(2026, 2, 1), utc(2026, 3, 1)) == [utc(2026, 2, 27, 9),
                                                                         utc(2026, 2, 27, 9, 30)]


# --- validation ---------------------------------------------------------------------------------


def test_validate_schedule_returns_first_fire_time() -> None:
    assert validate_schedule("0 9 * * 1", NY, utc(2026, 3, 1)) == utc(2026, 3, 2, 14)


@pytest.mark.parametrize(
    ("expression", "reason"),
    [
        ("61 * * * *", "minute 61 out of range 0-59"),
        ("0 24 * * *", "hour 24 out of range 0-23"),
        ("0 0 0 * *", "day-of-month 0 out of range 1-31"),
        ("0 0 32 * *", "day-of-month 32 out of range 1-31"),
        ("0 0 * 13 *", "month 13 out of range 1-12"),
        ("0 0 * * 8", "day-of-week 8 out of range 0-7"),
        ("0 0 ? * 0 *", "day-of-week 0 out of range 1-7"),
        ("0 0 ? * 8 *", "day-of-week 8 out of range 1-7"),
        ("0 0 1 1 ? 1969", "year 1969 out of range 1970-2199"),
        ("0 0 1 1 ? 2200", "year 2200 out of range 1970-2199"),
        ("* * * *", "expected 5 fields (Unix) or 6 fields (AWS, last one the year), got 4"),
        ("0 0 1 1 ? 2030 0", "expected 5 fields (Unix) or 6 fields (AWS, last one the year), got 7"),
        ("5-2 * * * *", "minute range 5-2 is reversed"),
        ("*/0 * * * *", "minute step must be at least 1"),
        ("0 0 * * MON#6", "day-of-week #6 out of range 1-5"),
        ("0 0 * JUNE *", "unknown value 'JUNE' in month"),
        ("? * * * *", "'?' is only allowed alone in day-of-month or day-of-week, not in minute"),
        ("0,,5 * * * *", "empty list element in minute"),
        ("0 0 1,15W * *", "W takes one day and must be the whole day-of-month field (15W or LW)"),
        ("0 0 15W,L * *", "W takes one day and must be the whole day-of-month field (15W or LW)"),
        ("0 0 1-15W * *", "W takes one day and must be the whole day-of-month field (15W or LW)"),
        ("0 0 W15 * *", "W takes one day and must be the whole day-of-month field (15W or LW)"),
        ("0 0 0W * *", "day-of-month 0 out of range 1-31"),
        ("0 0 32W * ? *", "day-of-month 32 out of range 1-31"),
        ("0 0 * * TUE-1", "day-of-week range TUE-1 is reversed"),
        ("0 0 ? * MON-1 *", "day-of-week range MON-1 is reversed"),
        ("0 0 * * 9-SUN", "day-of-week 9 out of range 0-7"),
    ],
)
def test_invalid_expressions_are_rejected_with_a_reason(expression: str, reason: str) -> None:
    with pytest.raises(InvalidInput) as raised:
        parse_expression(expression)
    assert raised.value.detail == f"{INVALID_EXPRESSION} ({reason})"
    assert raised.value.detail.startswith("cron_expression: Schedule is an invalid cron expression")


@pytest.mark.parametrize(
    "expression", ["", "   ", "@daily", "0 9 * * * * *", "0 9 * * \uff11", "0 0 L-2 * *", "0 0 * * L"]
)
def test_malformed_expressions_are_invalid(expression: str) -> None:
    with pytest.raises(InvalidInput) as raised:
        validate_schedule(expression, "UTC", utc(2026, 1, 1))
    assert raised.value.detail.startswith("cron_expression: Schedule is an invalid cron expression")


@pytest.mark.parametrize(
    "zone", ["Mars/Olympus", "", "america/new_york", "localtime", "America", "../etc/passwd", "EST\x00"]
)
def test_unknown_zones_are_rejected(zone: str) -> None:
    with pytest.raises(InvalidInput) as raised:
        validate_schedule("0 9 * * *", zone, utc(2026, 1, 1))
    assert raised.value.detail == INVALID_TIMEZONE == "timezone: Time zone must be IANA valid."


@pytest.mark.parametrize("expression", ["0 0 1 1 ? 2020", "0 0 30 2 *", "0 0 31 4,6,9,11 *", "0 0 30 2 ? *"])
def test_schedule_that_never_fires_again_is_rejected(expression: str) -> None:
    with pytest.raises(InvalidInput) as raised:
        validate_schedule(expression, NY, utc(2026, 1, 1))
    assert raised.value.detail == NEVER_RUNS_AGAIN
    assert next_fire_time(expression, NY, utc(2026, 1, 1)) is None


def test_impossible_combination_is_rejected_quickly() -> None:
    started = time.perf_counter()
    # Odd days (`*/31` = 1 only) that are also a fifth Monday: never, in any 400-year cycle.
    assert next_fire_time("0 0 */31 * 1#5", "Europe/London", utc(2026, 1, 1)) is None
    assert time.perf_counter() - started < 2


def test_far_future_year_is_found_quickly() -> None:
    started = time.perf_counter()
    assert next_fire_time("30 2 ? 3 1#2 2199", NY, utc(2026, 1, 1)) == local(NY, 2199, 3, 10, 3, 0)
    assert time.perf_counter() - started < 2


# --- constructs croniter cannot take as written (our layer translates them) ---------------------


@both("0 9 15 * FRI#3", "0 9 15 * 6#3 *")
def test_either_day_field_with_nth_weekday(expression: str) -> None:
    # Day 15 OR the third Friday (croniter's own day_or would AND `#` with the day of month).
    days = [t.date().isoformat() for t in fires(expression, "UTC", utc(2026, 1, 1), utc(2026, 2, 28))]
    assert days == ["2026-01-15", "2026-01-16", "2026-02-15", "2026-02-20"]


@both("0 9 * * MON,FRI#3,5L", "0 9 ? * 2,6#3,6L *")
def test_plain_weekdays_mixed_with_nth_and_last_weekday(expression: str) -> None:
    # croniter rejects plain weekdays mixed with `#`: every Monday, the third and the last Friday.
    days = [t.day for t in fires(expression, "UTC", utc(2026, 1, 1), utc(2026, 1, 31))]
    assert days == [5, 12, 16, 19, 26, 30]


@both("0 9 1,L * *", "0 9 1,L * ? *")
def test_last_day_listed_with_other_days(expression: str) -> None:
    assert [t.date().isoformat() for t in next_fire_times(expression, "UTC", utc(2026, 1, 1, 10), 4)] == [
        "2026-01-31", "2026-02-01", "2026-02-28", "2026-03-01"
    ]


def test_year_field_skips_years_without_a_match() -> None:
    # Feb 29 exists in 2028 and 2032; 2030 and 2031 are allowed but have none.
    expression = "0 0 29 2 ? 2027,2028,2030-2032"
    assert next_fire_time(expression, "UTC", utc(2026, 1, 1)) == utc(2028, 2, 29)
    assert next_fire_time(expression, "UTC", utc(2028, 3, 1)) == utc(2032, 2, 29)
    assert next_fire_time(expression, "UTC", utc(2032, 2, 29)) is None


def test_end_of_the_calendar_is_never_again() -> None:
    assert next_fire_time("0 0 * * *", "UTC", utc(9998, 12, 30)) == utc(9998, 12, 31)
    assert next_fire_time("0 0 * * *", "UTC", utc(9998, 12, 31)) is None
    assert next_fire_time("0 0 30 2 *", "UTC", utc(9990, 1, 1)) is None  # the search runs off the calendar


def test_concurrent_threads_get_the_serial_answers() -> None:
    # Cached croniter objects keep a position; threads sharing one must not see each other's.
    def run(shift: int) -> list[datetime | None]:
        starts = [utc(2026, 1, 1) + timedelta(minutes=3 * i + 10_007 * shift) for i in range(1000)]
        return [next_fire_time("*/7 * * * *", "UTC", start) for start in starts]

    clear_caches()
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads often, inside croniter's search too
    try:
        with ThreadPoolExecutor(max_workers=8) as pool:
            threaded = list(pool.map(run, range(8)))
    finally:
        sys.setswitchinterval(interval)
    clear_caches()
    assert threaded == [run(shift) for shift in range(8)]


@pytest.mark.parametrize("expression", ["30 1 * * *", "*/20 1-2 * * *", "0 0 3 11 ?", "15 2 * 3 0#2"])
def test_asking_again_before_the_answer_gives_the_fresh_answer(expression: str) -> None:
    # Beat asks every slot until a schedule fires; repeated questions must match fresh computations,
    # across New York's fall-back (2024-11-03) and spring-forward (2025-03-09) too.
    afters = [utc(2024, 11, 2, 23) + timedelta(minutes=7 * i) for i in range(400)]
    afters += [utc(2025, 3, 9, 5) + timedelta(minutes=7 * i) for i in range(60)]
    remembered = [next_fire_time(expression, NY, after) for after in afters]
    fresh = []
    for after in afters:
        clear_caches(zones=False)
        fresh.append(next_fire_time(expression, NY, after))
    assert remembered == fresh


# --- description and dialect --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "description"),
    [
        ("0 9 * * 1", "At 09:00, only on Monday"),
        ("0 9 ? * 2 *", "At 09:00, only on Monday"),
        ("0 9 ? * MON *", "At 09:00, only on Monday"),
        ("00 09 ? * 2-6 *", "At 09:00, Monday through Friday"),
        ("0 */6 * * ? *", "Every 6 hours"),
        ("0 0 ? * 2#1 *", "At 00:00, on the first Monday of the month"),
        ("0 0 1 1 ? 2099", "At 00:00, on day 1 of the month, only in January, only in 2099"),
        ("0 9 15W * *", "At 09:00, on the weekday nearest day 15 of the month"),
        ("15 8 LW * ? *", "At 08:15, on the last weekday of the month"),
        ("0 9 ? * TUE-SUN *", "At 09:00, Tuesday through Sunday"),
    ],
)
def test_describe_expression(expression: str, description: str) -> None:
    assert describe_expression(expression) == description


def test_describe_rejects_invalid_expressions() -> None:
    with pytest.raises(InvalidInput):
        describe_expression("not cron")


def test_dialect_of() -> None:
    assert dialect_of("0 9 * * 1") == "unix"
    assert dialect_of("  0 9 ? * 2 *  ") == "aws"
