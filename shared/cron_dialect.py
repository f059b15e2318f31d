"""Cron dialects: Unix (5 fields) and AWS/Quartz (6 fields, the last one a year) parsed to a CronSpec.

This module owns syntax and validation (croniter never sees the user's text) and translates a
CronSpec into the 5-field Unix expressions croniter searches with (`croniter_expressions`); the
year field stays ours (shared.cron filters by it).

Day fields. A field that starts with `*` or is `?` is unrestricted in the classic (Vixie) sense:
the day then matches when both fields match (the unrestricted one always does, unless it is a
stepped wildcard like `*/2`). When neither starts with `*` or `?`, a day matches when either
field matches (classic cron OR); `1-31` or `0-6` count as restricted although they name every
day. AWS requires one of the two day fields to be `?`; we are lenient and apply the Unix rule to
AWS too, so `0 */6 * * ? *`, `0 9 * * MON *` and even `0 9 1 * MON *` (day 1 OR Monday) are
accepted. `?` is also accepted in a Unix day field, as `*`.

`NW` (the weekday nearest day N, never in another month) and `LW` (the last weekday) must be the
whole day-of-month field, as in Quartz and EventBridge. croniter cannot express them as we read
them (it has no `LW`, and it moves `31W` to the 30th in a 30-day month where we skip the month,
as plain `31` does), so they are left out of the croniter translation and shared.cron_calendar
evaluates them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

from shared.errors import InvalidInput

Dialect = Literal["unix", "aws"]

INVALID_EXPRESSION = "cron_expression: Schedule is an invalid cron expression"
MAX_EXPRESSION_LENGTH = 256
YEAR_MIN, YEAR_MAX = 1970, 2199

MONTH_NAMES = {
    name: number
    for number, name in enumerate(
        ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"), start=1
    )
}
# Internal weekday numbering is Unix: 0 = Sunday ... 6 = Saturday.
WEEKDAY_NAMES = {name: number for number, name in enumerate(("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"))}

_ELEMENT = re.compile(r"(?:(\*)|([0-9A-Z]+)(?:-([0-9A-Z]+))?)(?:/([0-9]+))?")
_NTH_WEEKDAY = re.compile(r"([0-9A-Z]+)#([0-9]+)")
_LAST_WEEKDAY = re.compile(r"([0-9]+|[A-Z]{3})L")
_NEAREST_WEEKDAY = re.compile(r"([0-9]+)W")
_THROUGH_SUNDAY = re.compile(r"([0-9A-Z]+)-SUN(/[0-9]+)?")
_MAX_DIGITS = 4


@dataclass(frozen=True)
class _FieldRule:
    name: str
    low: int
    high: int
    names: dict[str, int] | None = None


_MINUTE = _FieldRule("minute", 0, 59)
_HOUR = _FieldRule("hour", 0, 23)
_DAY_OF_MONTH = _FieldRule("day-of-month", 1, 31)
_MONTH = _FieldRule("month", 1, 12, MONTH_NAMES)
_UNIX_WEEKDAY = _FieldRule("day-of-week", 0, 7, WEEKDAY_NAMES)
_AWS_WEEKDAY = _FieldRule("day-of-week", 1, 7, {name: n + 1 for name, n in WEEKDAY_NAMES.items()})
_YEAR = _FieldRule("year", YEAR_MIN, YEAR_MAX)
_PLAIN_FIELDS = {rule.name: rule for rule in (_MINUTE, _HOUR, _MONTH, _YEAR)}


@dataclass(frozen=True)
class CronSpec:
    """A parsed cron expression: the sets of wall-clock values it matches."""

    expression: str
    dialect: Dialect
    fields: tuple[str, ...]
    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    days_of_month: frozenset[int]
    last_day_of_month: bool
    nearest_weekday_to: int | None  # `15W`: the weekday nearest the 15th
    last_weekday_of_month: bool  # `LW`
    months: tuple[int, ...]
    days_of_week: frozenset[int]
    nth_days_of_week: frozenset[tuple[int, int]]
    last_days_of_week: frozenset[int]
    either_day_matches: bool
    years: tuple[int, ...] | None
    fixed_time: bool


def clear_field_caches() -> None:
    """Forget parsed fields (benchmarks measuring a cold start)."""
    _parse_field.cache_clear()
    _parse_day_of_month.cache_clear()
    _parse_day_of_week.cache_clear()


def invalid(reason: str) -> InvalidInput:
    """The InvalidInput for a malformed expression, with a short reason appended."""
    return InvalidInput(f"{INVALID_EXPRESSION} ({reason})")


def parse_cron(expression: str) -> CronSpec:
    """Parse a Unix or AWS expression; raises InvalidInput (`cron_expression: ...`) if malformed."""
    if not isinstance(expression, str):
        raise invalid("not a string")
    if len(expression) > MAX_EXPRESSION_LENGTH:
        raise invalid(f"longer than {MAX_EXPRESSION_LENGTH} characters")
    if not expression.isascii():
        raise invalid("non-ASCII characters")
    fields = tuple(expression.upper().split())
    if len(fields) not in (5, 6):
        raise invalid(f"expected 5 fields (Unix) or 6 fields (AWS, last one the year), got {len(fields)}")
    dialect: Dialect = "unix" if len(fields) == 5 else "aws"
    minute, hour, dom, month, dow = fields[:5]
    minutes = _parse_field(minute, _MINUTE.name)
    hours = _parse_field(hour, _HOUR.name)
    days_of_month, last_day, nearest, last_weekday = _parse_day_of_month(dom)
    months = _parse_field(month, _MONTH.name)
    weekdays, nth, last_weekdays = _parse_day_of_week(dow, dialect)
    years = None if dialect == "unix" or fields[5] == "*" else _parse_field(fields[5], _YEAR.name)
    return CronSpec(
        expression=expression,
        dialect=dialect,
        fields=fields,
        minutes=minutes,
        hours=hours,
        days_of_month=days_of_month,
        last_day_of_month=last_day,
        nearest_weekday_to=nearest,
        last_weekday_of_month=last_weekday,
        months=months,
        days_of_week=weekdays,
        nth_days_of_week=nth,
        last_days_of_week=last_weekdays,
        either_day_matches=not _unrestricted(dom) and not _unrestricted(dow),
        years=years,
        fixed_time="*" not in minute and "*" not in hour,
    )


def _unrestricted(text: str) -> bool:
    return text.startswith("*") or text == "?"


# Fields repeat across expressions far more than whole expressions do, so each is cached alone.
@lru_cache(maxsize=2048)
def _parse_day_of_month(text: str) -> tuple[frozenset[int], bool, int | None, bool]:
    if text == "?":
        return frozenset(range(1, 32)), False, None, False
    if text == "LW":
        return frozenset(), False, None, True
    if match := _NEAREST_WEEKDAY.fullmatch(text):
        day = _checked(_number(match.group(1), _DAY_OF_MONTH.name), _DAY_OF_MONTH, _DAY_OF_MONTH.high)
        return frozenset(), False, day, False
    if "W" in text:
        raise invalid("W takes one day and must be the whole day-of-month field (15W or LW)")
    days: set[int] = set()
    last = False
    for element in _elements(text, _DAY_OF_MONTH):
        if element == "L":
            last = True
        else:
            days |= _parse_element(element, _DAY_OF_MONTH)
    return frozenset(days), last, None, False


@lru_cache(maxsize=2048)
def _parse_day_of_week(
    text: str, dialect: Dialect
) -> tuple[frozenset[int], frozenset[tuple[int, int]], frozenset[int]]:
    rule = _UNIX_WEEKDAY if dialect == "unix" else _AWS_WEEKDAY
    if text == "?":
        return frozenset(range(7)), frozenset(), frozenset()
    weekdays: set[int] = set()
    nth: set[tuple[int, int]] = set()
    last: set[int] = set()
    for element in _elements(text, rule):
        if match := _NTH_WEEKDAY.fullmatch(element):
            ordinal = _number(match.group(2), "day-of-week ordinal after #")
            if not 1 <= ordinal <= 5:
                raise invalid(f"day-of-week #{ordinal} out of range 1-5")
            nth.add((_to_weekday(_checked(_value(match.group(1), rule), rule, rule.high), dialect), ordinal))
        elif match := _LAST_WEEKDAY.fullmatch(element):
            last.add(_to_weekday(_checked(_value(match.group(1), rule), rule, rule.high), dialect))
        else:
            weekdays |= {_to_weekday(value, dialect) for value in _weekday_values(element, rule, dialect)}
    return frozenset(weekdays), frozenset(nth), frozenset(last)


def _weekday_values(element: str, rule: _FieldRule, dialect: Dialect) -> set[int]:
    """Day-of-week numbers (in the dialect's numbering, Sunday possibly past Saturday) of one element."""
    # An open range (`*`, `3/2`) ends on Saturday: only an explicit 7 means Sunday in Unix
    # (`7/2` is just Sunday).
    high = 6 if dialect == "unix" else 7
    explicit_high = rule.high
    through_sunday = _THROUGH_SUNDAY.fullmatch(element)
    sunday = rule.names["SUN"] if rule.names else 0
    if through_sunday and _checked(_value(through_sunday.group(1), rule), rule, rule.high) != sunday:
        # `MON-SUN` as users write it: Sunday by name ends a range at the end of the week instead
        # of reversing it (Unix numbers it 7 there; AWS, whose week is 1-7, numbers it 8).
        explicit_high = 7 if dialect == "unix" else 8
        element = f"{through_sunday.group(1)}-{explicit_high}{through_sunday.group(2) or ''}"
    return _parse_element(element, _FieldRule(rule.name, rule.low, high, rule.names), explicit_high)


def _to_weekday(value: int, dialect: Dialect) -> int:
    return value % 7 if dialect == "unix" else (value - 1) % 7


@lru_cache(maxsize=2048)
def _parse_field(text: str, rule_name: str) -> tuple[int, ...]:
    rule = _PLAIN_FIELDS[rule_name]
    values: set[int] = set()
    for element in _elements(text, rule):
        values |= _parse_element(element, rule)
    return tuple(sorted(values))


def _elements(text: str, rule: _FieldRule) -> list[str]:
    if "?" in text:
        raise invalid(f"'?' is only allowed alone in day-of-month or day-of-week, not in {rule.name}")
    elements = text.split(",")
    if any(not element for element in elements):
        raise invalid(f"empty list element in {rule.name}")
    return elements


def _parse_element(element: str, rule: _FieldRule, explicit_high: int | None = None) -> set[int]:
    """Values of one list element; `explicit_high` allows a larger bound for spelled-out values."""
    match = _ELEMENT.fullmatch(element)
    if match is None:
        raise invalid(f"cannot read '{element}' in {rule.name}")
    star, first, last, step_text = match.groups()
    high_bound = explicit_high if explicit_high is not None else rule.high
    if star:
        low, high = rule.low, rule.high
    else:
        low = _checked(_value(first, rule), rule, high_bound)
        if last is not None:
            high = _checked(_value(last, rule), rule, high_bound)
            if high < low:
                raise invalid(f"{rule.name} range {first}-{last} is reversed")
        else:
            high = rule.high if step_text is not None else low
    step = 1 if step_text is None else _number(step_text, f"{rule.name} step")
    if step < 1:
        raise invalid(f"{rule.name} step must be at least 1")
    return set(range(low, max(high, low) + 1, step))


def _checked(value: int, rule: _FieldRule, high: int) -> int:
    if not rule.low <= value <= high:
        raise invalid(f"{rule.name} {value} out of range {rule.low}-{high}")
    return value


def _value(text: str, rule: _FieldRule) -> int:
    if rule.names is not None and text in rule.names:
        return rule.names[text]
    if not text.isdigit():
        raise invalid(f"unknown value '{text}' in {rule.name}")
    return _number(text, rule.name)


def _number(text: str, what: str) -> int:
    if not text.isdigit() or len(text) > _MAX_DIGITS:
        raise invalid(f"bad number '{text}' in {what}")
    return int(text)


def descriptor_expression(spec: CronSpec) -> str:
    """The expression in the Unix syntax cron-descriptor reads (AWS day numbers shifted to 0-6)."""
    minute, hour, dom, month, dow = spec.fields[:5]
    dom = "*" if dom == "?" else dom
    if spec.dialect == "aws":
        dow = "*" if dow == "?" else ",".join(_descriptor_weekday(e) for e in dow.split(","))
    else:
        dow = "*" if dow == "?" else dow
    unix = f"{minute} {hour} {dom} {month} {dow}"
    if spec.years is None:
        return unix
    return f"0 {unix} {spec.fields[5]}"


def _descriptor_weekday(element: str) -> str:
    if "/" in element:
        values = _parse_element(element, _AWS_WEEKDAY)
        return ",".join(str(value - 1) for value in sorted(values))
    return re.sub(r"^[0-9]+|(?<=-)[0-9]+", lambda m: str(int(m.group()) - 1), element)


def croniter_expressions(spec: CronSpec) -> tuple[str, ...]:
    """Unix expressions for croniter (with day_or=False) that together match what the spec does, year and W aside.

    The days a `15W`/`LW` day-of-month names are not among them (see the module docstring): with
    such a field and an unrestricted day-of-week this is empty.
    """
    # Built from the parsed value sets, never from the user's text: croniter reads some spellings
    # differently from us (`JAN-JAN` is its whole year, a 6th field its seconds) and AWS numbers
    # weekdays from 1. Each expression is an AND of its day fields (day_or=False); our OR of the two
    # day fields is the union of several expressions, because croniter's own day_or treats `#`/`L`
    # weekdays as an AND with the day of month and rejects plain weekdays mixed with `#`.
    minute = _croniter_field(spec.minutes, 0, 59)
    hour = _croniter_field(spec.hours, 0, 23)
    month = _croniter_field(spec.months, 1, 12)
    dom = _croniter_field(tuple(sorted(spec.days_of_month)), 1, 31)
    if spec.last_day_of_month and dom != "*":
        dom = ",".join(filter(None, (dom, "l")))
    weekday_parts = []
    if spec.days_of_week:
        weekday_parts.append(_croniter_field(tuple(sorted(spec.days_of_week)), 0, 6))
    special = [f"{weekday}#{ordinal}" for weekday, ordinal in sorted(spec.nth_days_of_week)]
    special += [f"l{weekday}" for weekday in sorted(spec.last_days_of_week)]
    if special:
        weekday_parts.append(",".join(special))
    by_weekday_rule = spec.nearest_weekday_to is not None or spec.last_weekday_of_month
    dom_parts = [] if by_weekday_rule else [dom]
    if spec.either_day_matches:
        days = [(dom_text, "*") for dom_text in dom_parts] + [("*", weekdays) for weekdays in weekday_parts]
    else:
        days = [(dom_text, weekdays) for dom_text in dom_parts for weekdays in weekday_parts]
    return tuple(dict.fromkeys(f"{minute} {hour} {dom_text} {month} {dow}" for dom_text, dow in days))


def _croniter_field(values: tuple[int, ...], low: int, high: int) -> str:
    if len(values) == high - low + 1:
        return "*"
    return ",".join(map(str, values))
