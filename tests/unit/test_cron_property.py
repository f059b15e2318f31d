"""The time engine against a brute-force oracle that walks UTC minute by minute.

The oracle shares no code with shared/cron.py (and never uses croniter): it parses the fields into
sets itself and applies the DST rules of DESIGN.md literally at every minute:
- wildcard expressions fire at every minute whose wall time matches;
- fixed-time expressions fire at the minute the clock first reaches (or jumps over) a matching
  wall time, which it tracks as the highest wall time shown so far.

Default run is bounded; `HYPOTHESIS_PROFILE=fuzz` runs many more examples.
"""

from __future__ import annotations

import os
import random
import zoneinfo
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.cron import fire_times_between, next_fire_time, parse_expression, validate_execute_at, validate_timezone
from shared.errors import InvalidInput
from shared.timezones import LEGACY_ZONES

for _name, _examples in (("cron-default", 150), ("fuzz", 2000)):
    settings.register_profile(
        _name, max_examples=_examples, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
    )
PROFILE = "fuzz" if os.environ.get("HYPOTHESIS_PROFILE") == "fuzz" else "cron-default"
FUZZ = PROFILE == "fuzz"

MINUTE = timedelta(minutes=1)
NAMED_ZONES = [
    "America/New_York",
    "Europe/London",
    "Australia/Lord_Howe",
    "America/Santiago",
    "Asia/Kathmandu",
    "Pacific/Chatham",
    "UTC",
]
ALL_ZONES = sorted(zoneinfo.available_timezones() - {"localtime"})
MONTHS = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]
DAYS = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"]


# --- oracle -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Oracle:
    minutes: frozenset[int]
    hours: frozenset[int]
    doms: frozenset[int]
    last_dom: bool
    nearest_weekday_to: int | None  # `15W`
    last_weekday_of_month: bool  # `LW`
    months: frozenset[int]
    weekdays: frozenset[int]  # Python numbering, Monday = 0
    nth: frozenset[tuple[int, int]]
    last_weekdays: frozenset[int]
    either: bool
    years: frozenset[int] | None
    fixed: bool

    def day_matches(self, day: date) -> bool:
        if day.month not in self.months or (self.years is not None and day.year not in self.years):
            return False
        next_month = date(day.year + day.month // 12, day.month % 12 + 1, 1)
        is_last = (next_month - day).days == 1
        by_dom = day.day in self.doms or (self.last_dom and is_last)
        if self.nearest_weekday_to is not None or self.last_weekday_of_month:
            month_days = [date(day.year, day.month, d) for d in range(1, (next_month - timedelta(days=1)).day + 1)]
            weekdays = [d for d in month_days if d.weekday() < 5]
            if self.last_weekday_of_month:
                by_dom = day == weekdays[-1]
            elif self.nearest_weekday_to is not None and self.nearest_weekday_to <= len(month_days):
                # The month's weekday at the least distance from the target day (there is never a tie).
                by_dom = day == min(weekdays, key=lambda d: abs(d.day - (self.nearest_weekday_to or 0)))
        by_dow = (
            day.weekday() in self.weekdays
            or (day.weekday(), (day.day + 6) // 7) in self.nth
            or (day.weekday() in self.last_weekdays and (day + timedelta(days=7)).month != day.month)
        )
        return (by_dom or by_dow) if self.either else (by_dom and by_dow)

    def matches(self, wall: datetime) -> bool:
        return wall.minute in self.minutes and wall.hour in self.hours and self.day_matches(wall.date())


def _spread(text: str, low: int, high: int, open_high: int, names: list[str], base: int) -> set[int]:
    def number(token: str) -> int:
        return names.index(token.upper()) + base if token.upper() in names else int(token)

    values: set[int] = set()
    for part in text.split(","):
        span, _, step = part.partition("/")
        if span in ("*", "?"):
            first, last = low, open_high
        elif "-" in span:
            first, last = (number(token) for token in span.split("-"))
            if last < first and span.upper().endswith("-SUN"):
                last += 7  # `MON-SUN`: through the week's end, not reversed
        else:
            first = number(span)
            last = max(first, open_high) if step else first  # Unix `7/2` in day-of-week: just Sunday
        values.update(range(first, last + 1, int(step or 1)))
    return values


def oracle_for(expression: str) -> Oracle:
    fields = expression.split()
    aws = len(fields) == 6
    minute, hour, dom, month, dow = fields[:5]
    to_python = (lambda d: (d - 2) % 7) if aws else (lambda d: (d - 1) % 7)
    weekdays: set[int] = set()
    nth: set[tuple[int, int]] = set()
    last_weekdays: set[int] = set()
    for part in dow.split(","):
        if "#" in part:
            day, ordinal = part.split("#")
            nth.add((to_python(_spread(day, 0, 7, 7, DAYS, 1 if aws else 0).pop()), int(ordinal)))
        elif part.upper().endswith("L"):
            last_weekdays.add(to_python(_spread(part[:-1], 0, 7, 7, DAYS, 1 if aws else 0).pop()))
        else:
            low, open_high = (1, 7) if aws else (0, 6)
            weekdays |= {to_python(d) for d in _spread(part, low, 7, open_high, DAYS, 1 if aws else 0)}
    upper_dom = dom.upper()
    nearest = int(upper_dom[:-1]) if upper_dom.endswith("W") and upper_dom != "LW" else None
    dom_parts = [] if upper_dom.endswith("W") else dom.split(",")
    unrestricted = [field.startswith("*") or field == "?" for field in (dom, dow)]
    year_field = fields[5] if aws else "*"
    return Oracle(
        minutes=frozenset(_spread(minute, 0, 59, 59, [], 0)),
        hours=frozenset(_spread(hour, 0, 23, 23, [], 0)),
        doms=frozenset(_spread(",".join(p for p in dom_parts if p != "L") or "32", 1, 31, 31, [], 0)),
        last_dom="L" in dom_parts,
        nearest_weekday_to=nearest,
        last_weekday_of_month=upper_dom == "LW",
        months=frozenset(_spread(month, 1, 12, 12, MONTHS, 1)),
        weekdays=frozenset(weekdays),
        nth=frozenset(nth),
        last_weekdays=frozenset(last_weekdays),
        either=not any(unrestricted),
        years=None if year_field == "*" else frozenset(_spread(year_field, 1970, 2199, 2199, [], 0)),
        fixed="*" not in minute and "*" not in hour,
    )


def oracle_fires(oracle: Oracle, zone: zoneinfo.ZoneInfo, after: datetime, until: datetime) -> list[datetime]:
    """Fire times in (after, until], walking every UTC minute (starting early to learn the clock's past)."""
    fires = []
    t = after.replace(second=0, microsecond=0) - timedelta(hours=12)
    reached = t.astimezone(zone).replace(tzinfo=None)  # highest wall time shown so far (exclusive)
    while t <= until:
        wall = t.astimezone(zone).replace(tzinfo=None)
        if oracle.fixed:
            fires_now = False
            candidate = reached
            while candidate <= wall and not fires_now:  # a jump forward passes these wall times
                fires_now = oracle.matches(candidate)
                candidate += MINUTE
        else:
            fires_now = oracle.matches(wall)
        if fires_now and t > after:
            fires.append(t)
        reached = max(reached, wall + MINUTE)
        t += MINUTE
    return fires


def oracle_transitions(zone: zoneinfo.ZoneInfo, year: int) -> list[datetime]:
    """Instants in `year` where the UTC offset changes, found hour by hour then minute by minute."""
    found = []
    t = datetime(year, 1, 1, tzinfo=UTC)
    while t.year == year:
        if (t + timedelta(hours=1)).astimezone(zone).utcoffset() != t.astimezone(zone).utcoffset():
            m = t
            while m.astimezone(zone).utcoffset() == t.astimezone(zone).utcoffset():
                m += MINUTE
            found.append(m)
        t += timedelta(hours=1)
    return found


# --- expression generator -----------------------------------------------------------------------


def _numeric(draw: st.DrawFn, values: st.SearchStrategy[int], low: int, high: int) -> str:
    kind = draw(st.sampled_from(["value", "value", "range", "range_step", "open_step"]))
    a = draw(values)
    if kind == "value":
        return str(a)
    if kind == "open_step":
        return f"{a}/{draw(st.integers(1, 12))}"
    b = draw(st.integers(a, max(a, high)))
    if kind == "range":
        return f"{a}-{b}"
    return f"{a}-{b}/{draw(st.integers(1, 8))}"


@st.composite
def field_text(
    draw: st.DrawFn, values: st.SearchStrategy[int], low: int, high: int, wildcard_weight: int = 2
) -> str:
    choice = draw(st.integers(0, 5 + wildcard_weight))
    if choice < wildcard_weight:
        return "*"
    if choice == wildcard_weight:
        return f"*/{draw(st.integers(1, high - low + 1))}"
    return ",".join(_numeric(draw, values, low, high) for _ in range(draw(st.integers(1, 3))))


MINUTE_VALUES = st.one_of(st.sampled_from([0, 15, 30, 45, 59]), st.integers(0, 59))
HOUR_VALUES = st.one_of(st.sampled_from([0, 1, 2, 3, 23]), st.integers(0, 23))


@dataclass(frozen=True)
class Focus:
    """Wall-clock hours and the local day around one offset change, to aim expressions at it."""

    hours: tuple[int, ...]
    day: date


def focus_on(zone: zoneinfo.ZoneInfo, change: datetime) -> Focus:
    before = (change - timedelta(seconds=1)).astimezone(zone)
    after = change.astimezone(zone)
    return Focus(tuple(sorted({before.hour, after.hour, (before.hour + 1) % 24})), before.date())


@st.composite
def focused_fields(draw: st.DrawFn, focus: Focus, aws: bool) -> tuple[str, str, str, str, str]:
    hours = focus.hours
    hour = draw(
        st.one_of(
            st.sampled_from([str(h) for h in hours]),
            st.just(",".join(str(h) for h in hours)),
            st.just(f"{hours[0]}-{hours[-1]}"),
            st.just("*"),
        )
    )
    minute = draw(
        st.one_of(
            st.sampled_from(["0", "15", "30", "45", "0,30", "*", "*/15", "5-59/20"]),
            st.builds(str, st.integers(0, 59)),
        )
    )
    weekday = (focus.day.weekday() + 1) % 7 + (1 if aws else 0)
    dom = draw(st.sampled_from(["*", "?", str(focus.day.day), f"{focus.day.day}-31", f"{focus.day.day}W",
                                f"{min(focus.day.day + 1, 31)}W", f"{max(focus.day.day - 1, 1)}W", "LW"]))
    dow = draw(st.sampled_from(["*", "?", str(weekday), DAYS[(focus.day.weekday() + 1) % 7]]))
    month = draw(st.sampled_from(["*", str(focus.day.month), MONTHS[focus.day.month - 1]]))
    return minute, hour, dom, month, dow


@st.composite
def expressions(draw: st.DrawFn, year: int, focus: Focus | None = None) -> str:
    aws = draw(st.booleans())
    if focus is not None and draw(st.booleans()):
        minute, hour, dom, month, dow = draw(focused_fields(focus, aws))
        return f"{minute} {hour} {dom} {month} {dow}" + (f" {draw(st.sampled_from(['*', str(year)]))}" if aws else "")
    minute = draw(field_text(MINUTE_VALUES, 0, 59))
    hour = draw(field_text(HOUR_VALUES, 0, 23))
    month = draw(st.one_of(st.just("*"), field_text(st.integers(1, 12), 1, 12), st.sampled_from(MONTHS)))
    dom = draw(
        st.one_of(
            st.just("*"),
            st.just("?"),
            st.just("L"),
            st.just("LW"),
            st.builds(lambda d: f"{d}W", st.one_of(st.sampled_from([1, 15, 28, 29, 30, 31]), st.integers(1, 31))),
            field_text(st.integers(1, 31), 1, 31),
        )
    )
    low = 1 if aws else 0
    day_value = st.integers(low, low + 6)
    dow_item = st.one_of(
        st.builds(lambda d, n: f"{d}#{n}", day_value, st.integers(1, 5)),
        st.builds(lambda d: f"{d}L", day_value),
        st.sampled_from(DAYS),
        st.builds(lambda d: f"{d}-SUN", st.sampled_from(DAYS)),
        st.builds(str, st.integers(low, 7)),
        st.builds(lambda d: f"{d}-7", st.integers(low, 7)),
    )
    dow = draw(
        st.one_of(
            st.just("*"),
            st.just("?"),
            st.lists(dow_item, min_size=1, max_size=2).map(",".join),
            field_text(st.integers(low, 7), low, 7),
        )
    )
    if not aws:
        return f"{minute} {hour} {dom} {month} {dow}"
    year_field = draw(
        st.one_of(
            st.just("*"),
            st.just(str(year)),
            st.just(f"{year - 1}-{year + 1}"),
            st.just(f"{year},{year + 2}"),
        )
    )
    return f"{minute} {hour} {dom} {month} {dow} {year_field}"


ZONES = st.one_of(st.sampled_from(NAMED_ZONES), st.sampled_from(ALL_ZONES))
YEARS = st.integers(2021, 2040)


def compare_window(expression: str, zone_name: str, after: datetime, until: datetime, seed: int) -> None:
    """Fire times in the window, and the next fire time from random points, some just past its middle."""
    zone = zoneinfo.ZoneInfo(zone_name)
    expected = oracle_fires(oracle_for(expression), zone, after, until)
    actual = fire_times_between(expression, zone_name, after, until, limit=len(expected) + 5)
    assert actual == expected, (expression, zone_name, after)
    rng = random.Random(seed)
    middle = after + (until - after) / 2
    for index in range(16):
        if index % 2:
            point = middle + timedelta(seconds=rng.randrange(3 * 3600))
        else:
            point = after + timedelta(seconds=rng.randrange(int((until - after).total_seconds())))
        later = [fire for fire in expected if fire > point]
        found = next_fire_time(expression, zone_name, point)
        if later:
            assert found == later[0], (expression, zone_name, point)
        else:
            assert found is None or found > until, (expression, zone_name, point)


@pytest.mark.timeout(0 if FUZZ else 300)
@settings(settings.get_profile(PROFILE))
@given(data=st.data(), zone_name=ZONES, year=YEARS)
def test_matches_oracle_around_every_offset_change(data: st.DataObject, zone_name: str, year: int) -> None:
    zone = zoneinfo.ZoneInfo(zone_name)
    changes = oracle_transitions(zone, year)[:4]
    focus = focus_on(zone, data.draw(st.sampled_from(changes))) if changes else None
    expression = data.draw(expressions(year, focus))
    windows = [(change - timedelta(hours=27), change + timedelta(hours=27)) for change in changes]
    start = datetime(year, 1, 1, tzinfo=UTC) + timedelta(minutes=data.draw(st.integers(0, 364 * 1440)))
    windows.append((start, start + timedelta(hours=30)))
    for after, until in windows:
        compare_window(expression, zone_name, after, until, seed=data.draw(st.integers(0, 2**32)))


@pytest.mark.timeout(0 if FUZZ else 300)
@settings(settings.get_profile(PROFILE), max_examples=200 if FUZZ else 8)
@given(data=st.data(), zone_name=ZONES, year=YEARS)
def test_matches_oracle_over_a_year(data: st.DataObject, zone_name: str, year: int) -> None:
    expression = data.draw(expressions(year))
    zone = zoneinfo.ZoneInfo(zone_name)
    after = datetime(year, 1, 1, tzinfo=UTC) - timedelta(minutes=data.draw(st.integers(0, 1440)))
    until = after + timedelta(days=366)
    oracle = oracle_for(expression)
    # Dense expressions would make the walk's comparison slow: cap it at the first 1,500 fire times.
    expected = oracle_fires(oracle, zone, after, until)[:1500]
    actual = fire_times_between(expression, zone_name, after, until, limit=1500)
    assert actual == expected, (expression, zone_name, after)


@settings(settings.get_profile(PROFILE), max_examples=3000 if FUZZ else 300)
@given(text=st.text())
def test_any_text_is_accepted_or_rejected_cleanly(text: str) -> None:
    try:
        spec = parse_expression(text)
    except InvalidInput as error:
        assert error.detail.startswith("cron_expression: Schedule is an invalid cron expression")
        return
    fire = next_fire_time(spec.expression, "UTC", datetime(2030, 1, 1, tzinfo=UTC))
    assert fire is None or fire > datetime(2030, 1, 1, tzinfo=UTC)


FIELD_ALPHABET = st.sampled_from(list("0123456789*/-,?#LW") + DAYS + MONTHS + [" "])


@settings(settings.get_profile(PROFILE), max_examples=3000 if FUZZ else 300)
@given(text=st.lists(FIELD_ALPHABET, max_size=40).map("".join), zone_name=ZONES)
def test_cron_like_text_never_raises_anything_else(text: str, zone_name: str) -> None:
    try:
        fire = next_fire_time(text, zone_name, datetime(2026, 3, 1, tzinfo=UTC))
    except InvalidInput as error:
        assert error.detail.startswith("cron_expression: ")
        return
    assert fire is None or fire > datetime(2026, 3, 1, tzinfo=UTC)


@settings(settings.get_profile(PROFILE), max_examples=3000 if FUZZ else 200)
@given(text=st.one_of(st.text(), st.sampled_from(ALL_ZONES).map(lambda z: z.lower()), st.sampled_from(ALL_ZONES)))
def test_any_text_as_zone_is_a_zone_or_the_timezone_error(text: str) -> None:
    try:
        zone = validate_timezone(text)
    except InvalidInput as error:
        if text in LEGACY_ZONES:
            assert error.detail.startswith(f"timezone: The timezone {text} is not supported. Use e.g. ")
        else:
            assert error.detail == "timezone: Time zone must be IANA valid."
        return
    assert zone.key == text and text not in LEGACY_ZONES


@settings(settings.get_profile(PROFILE), max_examples=3000 if FUZZ else 200)
@given(text=st.one_of(st.text(), st.datetimes(timezones=st.timezones()).map(lambda d: d.isoformat())))
def test_any_text_as_execute_at_is_a_slot_or_an_execute_at_error(text: str) -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    try:
        slot = validate_execute_at(text, now)
    except InvalidInput as error:
        assert error.detail.startswith("execute_at: ")
        return
    assert slot.tzinfo is UTC and slot.minute % 15 == 0 and slot >= now + timedelta(minutes=15)
