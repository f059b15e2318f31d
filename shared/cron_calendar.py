"""The day-of-month rules croniter cannot take as we read them: `15W` (nearest weekday) and `LW`.

Pure. Wall times are integer seconds since 1970-01-01 on the zone's clock, minute-aligned, as in
shared.cron, which takes the earliest of this search and croniter's for the rest of the spec.

`NW` is the weekday (Monday-Friday) nearest day N of the month, never in another month: a
Saturday moves to the Friday before (to Monday the 3rd when it is the 1st), a Sunday to the
Monday after (to the Friday before when it ends the month). A month without day N (31W in
April, 30W in February) has no such day, as plain `31` never fires in April. `LW` is the last
weekday of the month. With an unrestricted day-of-week (`*`, `?`, `*/2`) such a day must also
match the day-of-week field, as any day-of-month does; with a restricted one either field may
match, and croniter searches the day-of-week side.
"""

from __future__ import annotations

import calendar
from bisect import bisect_left
from datetime import date, datetime, timedelta

from shared.cron_dialect import CronSpec

_EPOCH = datetime(1970, 1, 1)
_EPOCH_ORDINAL = _EPOCH.toordinal()
_DAY = 86400
# The Gregorian calendar, weekdays included, repeats every 400 years (croniter's window too).
_SEARCH_MONTHS = 401 * 12
_LAST_YEAR = 9998


def nearest_weekday(year: int, month: int, day: int) -> int | None:
    """The day of the weekday nearest `day` within its month; None if the month has no such day."""
    length = calendar.monthrange(year, month)[1]
    if day > length:
        return None
    weekday = date(year, month, day).weekday()  # Monday = 0
    if weekday == 5:
        return day - 1 if day > 1 else day + 2
    if weekday == 6:
        return day + 1 if day < length else day - 2
    return day


def last_weekday(year: int, month: int) -> int:
    """The day of the month's last weekday (Monday-Friday)."""
    day = nearest_weekday(year, month, calendar.monthrange(year, month)[1])
    assert day is not None  # the last day always exists
    return day


def next_weekday_rule_wall(spec: CronSpec, low: int) -> int | None:
    """First wall time ≥ `low` on the day a `15W`/`LW` field names, None if there is none (or no such field)."""
    if spec.nearest_weekday_to is None and not spec.last_weekday_of_month:
        return None
    start = _EPOCH + timedelta(seconds=low)
    year, month = start.year, start.month
    for _ in range(_SEARCH_MONTHS):
        if year > _LAST_YEAR:
            return None
        if month in spec.months:
            day = (last_weekday(year, month) if spec.last_weekday_of_month
                   else nearest_weekday(year, month, spec.nearest_weekday_to or 0))
            if day is not None:
                found = _first_wall_on(spec, date(year, month, day), start)
                if found is not None:
                    return found
        year, month = (year, month + 1) if month < 12 else (year + 1, 1)
    return None


def _first_wall_on(spec: CronSpec, day: date, start: datetime) -> int | None:
    if day < start.date() or not (spec.either_day_matches or _weekday_field_matches(spec, day)):
        return None
    earliest = start.hour * 60 + start.minute if day == start.date() else 0
    minute_of_day = _first_minute_of_day(spec, earliest)
    if minute_of_day is None:
        return None
    return (day.toordinal() - _EPOCH_ORDINAL) * _DAY + minute_of_day * 60


def _first_minute_of_day(spec: CronSpec, earliest: int) -> int | None:
    """The first minute of the day (0-1439) ≥ `earliest` that the hour and minute fields match."""
    for hour in spec.hours[bisect_left(spec.hours, earliest // 60):]:
        floor = earliest - hour * 60 if hour == earliest // 60 else 0
        index = bisect_left(spec.minutes, floor)
        if index < len(spec.minutes):
            return hour * 60 + spec.minutes[index]
    return None


def _weekday_field_matches(spec: CronSpec, day: date) -> bool:
    weekday = (day.weekday() + 1) % 7  # the spec's numbering: Sunday = 0
    if weekday in spec.days_of_week or (weekday, (day.day + 6) // 7) in spec.nth_days_of_week:
        return True
    return weekday in spec.last_days_of_week and day.day + 7 > calendar.monthrange(day.year, day.month)[1]
