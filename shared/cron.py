"""The time engine: when a cron schedule fires in its IANA zone, and which one-shot slots are valid.

Pure: `now`/`after` are always arguments; nothing here reads the clock. Results are UTC-aware.

Division of labour: shared.cron_dialect parses and validates both dialects and translates a spec
into 5-field Unix expressions; croniter does the cron arithmetic (the next matching naive wall
time, `_next_wall`), except for the `15W`/`LW` days, which shared.cron_calendar finds; this module
filters by the AWS year field, applies the DST rules below on top of those wall times, and
memoizes.

DST rules (see DESIGN.md, "Time semantics"):
- A fixed-time expression (no `*` in its minute or hour field) names wall-clock slots. Each slot
  fires once, at the first instant the zone's clock reaches it: a slot repeated by fall-back fires
  at its first occurrence; a slot skipped by spring-forward fires at the first instant after the
  gap (several skipped slots collapse into that one firing).
- A wildcard expression follows real time: it fires at every instant whose wall time matches, so
  twice in a repeated hour and never inside a gap.

Time zones: `validate_timezone` (shared.timezones) judges a name given as input and refuses the
tz database's legacy abbreviations (`EST`); the engine itself takes any name in the database, so a
schedule stored with one before keeps firing.

Internally instants and wall times are integer seconds since 1970-01-01 (wall = instant + UTC
offset). Offset changes are found by sampling the zone every 3 days and bisecting; this relies
on no zone changing its offset twice within 3 days (true for all of tzdb since 1970, where the
closest pair is ~7 days apart).
"""

from __future__ import annotations

import re
import threading
import zoneinfo
from bisect import bisect_left
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from datetime import timezone as FixedOffset
from functools import lru_cache

from cron_descriptor import ExpressionDescriptor, Options
from croniter import CroniterBadDateError, croniter

from shared.cron_calendar import next_weekday_rule_wall
from shared.cron_dialect import (
    INVALID_EXPRESSION,
    CronSpec,
    Dialect,
    clear_field_caches,
    croniter_expressions,
    descriptor_expression,
    parse_cron,
)
from shared.errors import InvalidInput
from shared.timezones import INVALID_TIMEZONE, validate_timezone, zone_named

__all__ = [
    "INVALID_EXPRESSION",
    "INVALID_TIMEZONE",
    "NEVER_RUNS_AGAIN",
    "CronSpec",
    "Dialect",
    "SlotRules",
    "clear_caches",
    "describe_expression",
    "dialect_of",
    "fire_times_between",
    "next_fire_time",
    "next_fire_times",
    "parse_expression",
    "parse_timestamp",
    "validate_execute_at",
    "validate_schedule",
    "validate_timezone",
]

NEVER_RUNS_AGAIN = "cron_expression: Schedule will never run again"
@dataclass(frozen=True)
class SlotRules:
    """Where a one-shot send may be placed: on a grid of `grid_s` seconds, at least `lead_s` ahead.

    Production is 900/900 (the 15-minute rule of messaging APIs); tests shorten both through
    PUNCTUAL_SEND_SLOT_SECONDS and PUNCTUAL_SEND_MIN_LEAD_SECONDS.
    """

    grid_s: int = 900
    lead_s: int = 900

    def describe_grid(self) -> str:
        if self.grid_s == 900:
            return "a 15-minute boundary (:00, :15, :30, :45) with zero seconds"
        return f"a {self.grid_s}-second boundary"

    def describe_lead(self) -> str:
        if self.lead_s % 60 == 0:
            return f"{self.lead_s // 60} minutes"
        return f"{self.lead_s} seconds"


DEFAULT_SLOTS = SlotRules()

_EPOCH = datetime(1970, 1, 1)
_EPOCH_UTC = datetime(1970, 1, 1, tzinfo=UTC)
_EPOCH_ORDINAL = _EPOCH.toordinal()
_SECOND = timedelta(seconds=1)
_DAY = 86400
_SAMPLE_STEP = 3 * _DAY
_LOOKBACK = _DAY
_MIN_INSTANT = (date(2, 1, 1).toordinal() - _EPOCH_ORDINAL) * _DAY
_LAST_YEAR = 9998
_UNIX_SEARCH_YEARS = 401  # the Gregorian calendar, weekdays included, repeats every 400 years
_LATEST_ANSWERS_MAX = 65536
# (expression, zone) -> (after, fire, fire as datetime) of the latest computation, in seconds.
_latest_answers: dict[tuple[str, str], tuple[int, int | None, datetime | None]] = {}
_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(?:([Zz])|([+-])(\d{2}):(\d{2}))",
    re.ASCII,
)


def parse_expression(expression: str) -> CronSpec:
    """Parse a Unix (5-field) or AWS (6-field) expression; raises InvalidInput if malformed."""
    if not isinstance(expression, str):
        raise InvalidInput(f"{INVALID_EXPRESSION} (not a string)")
    return _parse_cached(expression)


@lru_cache(maxsize=4096)
def _parse_cached(expression: str) -> CronSpec:
    return parse_cron(expression)


def dialect_of(expression: str) -> Dialect:
    """'unix' for 5 fields, 'aws' for 6; raises InvalidInput if the expression is malformed."""
    return parse_expression(expression).dialect


def validate_schedule(expression: str, timezone: str, now: datetime) -> datetime:
    """First fire time after `now`; raises InvalidInput for a bad expression or zone, or one that never fires again."""
    parse_expression(expression)
    validate_timezone(timezone)
    first = next_fire_time(expression, timezone, now)
    if first is None:
        raise InvalidInput(NEVER_RUNS_AGAIN)
    return first


def next_fire_time(expression: str, timezone: str, after: datetime) -> datetime | None:
    """First fire time strictly after `after` (UTC-aware), None if never again; raises InvalidInput."""
    if not isinstance(expression, str) or not isinstance(timezone, str):
        parse_expression(expression)
        zone_named(timezone)
    seconds = _to_seconds(after)
    key = (expression, timezone)
    known = _latest_answers.get(key)
    # No fire lies between a computed `after` and its answer, so any `after` in that interval has
    # the same answer: beat asks again every slot until a schedule fires, and this skips croniter.
    if known is not None and known[0] <= seconds and (known[1] is None or seconds < known[1]):
        return known[2]
    fire = _next_fire_cached(expression, timezone, seconds)
    if len(_latest_answers) >= _LATEST_ANSWERS_MAX:
        _latest_answers.clear()
    _latest_answers[key] = (seconds, None if fire is None else _to_seconds(fire), fire)
    return fire


def next_fire_times(expression: str, timezone: str, after: datetime, count: int) -> list[datetime]:
    """The next `count` fire times strictly after `after`, fewer if it stops firing; raises InvalidInput."""
    return _collect(expression, timezone, after, None, count)


def fire_times_between(
    expression: str, timezone: str, after: datetime, until: datetime, limit: int
) -> list[datetime]:
    """Fire times in (after, until], oldest first, at most `limit`; raises InvalidInput."""
    return _collect(expression, timezone, after, until, limit)


def _collect(
    expression: str, timezone: str, after: datetime, until: datetime | None, limit: int
) -> list[datetime]:
    parse_expression(expression)
    zone_named(timezone)
    found: list[datetime] = []
    current: datetime | None = after
    while len(found) < limit and current is not None:
        current = next_fire_time(expression, timezone, current)
        if current is None or (until is not None and current > until):
            break
        found.append(current)
    return found


def describe_expression(expression: str) -> str:
    """Plain English for an expression, e.g. 'At 09:00, only on Monday'; raises InvalidInput if malformed."""
    spec = parse_expression(expression)
    options = Options()
    options.use_24hour_time_format = True
    options.verbose = False
    try:
        return str(ExpressionDescriptor(descriptor_expression(spec), options).get_description())
    except Exception:  # a description is a courtesy: a gap in cron-descriptor must not fail a request
        return f"Cron expression '{spec.expression.strip()}'"


def parse_timestamp(value: str, name: str) -> datetime:
    """An RFC 3339 timestamp with offset as a UTC-aware datetime; raises InvalidInput (`{name}: ...`)."""
    message = f"{name}: must be an RFC 3339 timestamp with offset"
    match = _RFC3339.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        raise InvalidInput(message)
    year, month, day, hour, minute, second, fraction, zulu, sign, off_h, off_m = match.groups()
    try:
        offset = timedelta(hours=int(off_h), minutes=int(off_m)) if not zulu else timedelta(0)
        if int(off_m or 0) > 59 or offset >= timedelta(hours=24):
            raise ValueError(value)
        local = datetime(
            int(year), int(month), int(day), int(hour), int(minute), int(second),
            int((fraction or "0").ljust(6, "0")[:6]),
            tzinfo=FixedOffset(-offset if sign == "-" else offset),
        )
        return local.astimezone(UTC)
    except (ValueError, OverflowError) as error:
        raise InvalidInput(message) from error


def validate_execute_at(value: str | datetime, now: datetime, rules: SlotRules = DEFAULT_SLOTS,
                        field: str = "execute_at") -> datetime:
    """A one-shot slot as UTC, on the rules' grid and at least their lead after `now`; raises InvalidInput."""
    if isinstance(value, datetime):
        if value.utcoffset() is None:
            raise InvalidInput(f"{field}: must be an RFC 3339 timestamp with offset")
        instant = value.astimezone(UTC)
    else:
        instant = parse_timestamp(value, field)
    # Judged on the UTC instant: for every offset that is a multiple of 15 minutes (all current
    # IANA offsets, +05:30 and +05:45 included) this is the same as the local wall clock's boundary.
    if instant.microsecond or int((instant - _EPOCH_UTC).total_seconds()) % rules.grid_s:
        raise InvalidInput(f"{field}: must be on {rules.describe_grid()}")
    if now.utcoffset() is None:
        raise ValueError("a timezone-aware `now` is required")
    if instant < now + timedelta(seconds=rules.lead_s):
        raise InvalidInput(f"{field}: must be at least {rules.describe_lead()} in the future")
    return instant


def clear_caches(zones: bool = True) -> None:
    """Forget parsed expressions, croniter objects, memoized fire times and (if `zones`) zone tables; for benchmarks."""
    clear_field_caches()
    _parse_cached.cache_clear()
    _wall_searches.cache_clear()
    _croniter_search.cache_clear()
    _next_fire_cached.cache_clear()
    _latest_answers.clear()
    if zones:
        _year_transitions.cache_clear()


def _to_seconds(moment: datetime) -> int:
    if moment.utcoffset() is None:
        raise ValueError("a timezone-aware datetime is required")
    return (moment - _EPOCH_UTC) // _SECOND


@lru_cache(maxsize=65536)
def _next_fire_cached(expression: str, timezone_name: str, after: int) -> datetime | None:
    spec = parse_expression(expression)
    zone = zone_named(timezone_name)
    start = max(after + 1, _MIN_INSTANT)
    if start >= _year_start(_LAST_YEAR + 1) - _DAY:
        return None
    fire = _next_fixed(spec, zone, start) if spec.fixed_time else _next_wildcard(spec, zone, start)
    return None if fire is None else _EPOCH_UTC + timedelta(seconds=fire)


def _next_wildcard(spec: CronSpec, zone: zoneinfo.ZoneInfo, start: int) -> int | None:
    """First instant ≥ start whose wall time matches: every real occurrence counts, gaps never."""
    while True:
        offset = _offset(zone, start)
        wall = _next_wall(spec, _ceil_minute(start + offset))
        if wall is None:
            # No matching wall time ahead, but a coming fall-back can show past ones again.
            change = _next_transition(zone, start, start + 2 * _DAY)
            if change is None:
                return None
            start = change
            continue
        candidate = wall - offset
        change = _next_transition(zone, start, candidate)
        if change is None:
            return candidate
        start, _ = _skip_quiet_segments(zone, start, (change, offset), candidate)


def _next_fixed(spec: CronSpec, zone: zoneinfo.ZoneInfo, start: int) -> int | None:
    """First instant ≥ start at which the clock first reaches a matching wall time."""
    # `reached` is the highest wall time the clock showed before `start` (exclusive): after a
    # fall-back the clock shows lower times again, and slots it already passed must not re-fire.
    reached = start + _offset(zone, start - 1)
    for past_change, past_offset in _transitions(zone, start - _LOOKBACK, start):
        reached = max(reached, past_change + past_offset)
    while True:
        offset = _offset(zone, start)
        wall = _next_wall(spec, _ceil_minute(reached))
        if wall is None:
            return None
        # A wall time inside a spring-forward gap is first reached when the gap ends, at `start`.
        candidate = max(start, wall - offset)
        change = _next_transition(zone, start, candidate)
        if change is None:
            return candidate
        reached = max(reached, change + offset)
        start, offset_before = _skip_quiet_segments(zone, start, (change, offset), candidate)
        reached = max(reached, start + offset_before)


def _skip_quiet_segments(
    zone: zoneinfo.ZoneInfo, start: int, first: tuple[int, int], candidate: int
) -> tuple[int, int]:
    """The offset change to resume from: the last one ≥2 days before `candidate` when safe, else `first`."""
    # With no change in the first 2 days, and no zone's offset ever moving by 2 days (the largest
    # jump, Samoa's in 2011, was 24 hours), the segments between `first` and the returned change
    # show only wall times between the search start and the candidate's, where nothing matches.
    # Without this a yearly or far-future schedule would walk every DST change on the way.
    if first[0] - start < 2 * _DAY or candidate - first[0] <= 2 * _DAY:
        return first
    year = _year_of(candidate - 2 * _DAY)
    while year >= _year_of(first[0]):
        for change, offset_before in reversed(_year_transitions(zone, year)):
            if first[0] <= change <= candidate - 2 * _DAY:
                return change, offset_before
        year -= 1
    return first


def _next_wall(spec: CronSpec, low: int) -> int | None:
    """First matching wall time (seconds, minute-aligned) at or after `low`; croniter searches, we filter years."""
    if spec.years is None:
        wall = _next_match(spec, low)
        return wall if wall is not None and _year_of(wall) <= _LAST_YEAR else None
    years = spec.years
    index = bisect_left(years, _year_of(low))
    while index < len(years):
        # Restart croniter at Jan 1 of the next allowed year; a match in a year the field does not
        # allow sends us on to the first allowed year after it.
        wall = _next_match(spec, max(low, _year_start(years[index])))
        if wall is None:
            return None
        year = _year_of(wall)
        index = bisect_left(years, year)
        if index < len(years) and years[index] == year:
            return wall
    return None


def _next_match(spec: CronSpec, low: int) -> int | None:
    """First wall time ≥ `low` matched by croniter's searches or by the spec's `15W`/`LW` day, years aside."""
    found = [wall for wall in (_croniter_next(spec.expression, low), next_weekday_rule_wall(spec, low))
             if wall is not None]
    return min(found, default=None)


def _croniter_next(expression: str, low: int) -> int | None:
    """First wall time ≥ `low` (minute-aligned) matched by any of the expression's croniter searches."""
    found: int | None = None
    for search, lock in _wall_searches(expression):
        try:
            # croniter objects keep their position: one lock per cached object, as workers use threads.
            with lock:
                # Naive float in and out: croniter then does pure wall-clock arithmetic (the DST
                # layer here owns the zone), and get_next is strictly after its start.
                wall = int(search.get_next(float, low - 60))
        except CroniterBadDateError:
            continue  # no match within the search window: this part never fires again
        except (OverflowError, ValueError):
            continue  # the search ran past year 9999 (datetime's limit) without a match
        if found is None or wall < found:
            found = wall
    return found


@lru_cache(maxsize=4096)
def _wall_searches(expression: str) -> tuple[tuple[croniter, threading.Lock], ...]:
    """The croniter searches (with their locks) for the 5-field expressions the spec translates to."""
    return tuple(_croniter_search(text) for text in croniter_expressions(parse_expression(expression)))


@lru_cache(maxsize=4096)
def _croniter_search(text: str) -> tuple[croniter, threading.Lock]:
    """One croniter object per translated expression, shared by every spelling and zone that yields it."""
    # Constructing a croniter costs several times a get_next, so objects are kept and re-pointed.
    # The window is 400 years after the start year: the Gregorian calendar, weekdays included,
    # repeats every 400 years, so a schedule with no match in it never fires again.
    return croniter(text, 0.0, day_or=False, max_years_between_matches=_UNIX_SEARCH_YEARS - 1), threading.Lock()


def _ceil_minute(seconds: int) -> int:
    return -(-seconds // 60) * 60


def _offset(zone: zoneinfo.ZoneInfo, instant: int) -> int:
    offset = datetime.fromtimestamp(instant, zone).utcoffset()
    return 0 if offset is None else offset // _SECOND


def _next_transition(zone: zoneinfo.ZoneInfo, after: int, until: int) -> int | None:
    """First offset change in (after, until], if any."""
    for change, _ in _transitions(zone, after, until):
        return change
    return None


def _transitions(zone: zoneinfo.ZoneInfo, after: int, until: int) -> Iterable[tuple[int, int]]:
    """(instant, offset before) of each offset change in (after, until], oldest first."""
    year = _year_of(after)
    while year <= _LAST_YEAR and _year_start(year) < until:
        for change, offset_before in _year_transitions(zone, year):
            if after < change <= until:
                yield change, offset_before
        year += 1


def _year_of(instant: int) -> int:
    return (_EPOCH + timedelta(seconds=instant)).year


@lru_cache(maxsize=16384)
def _year_start(year: int) -> int:
    return (date(year, 1, 1).toordinal() - _EPOCH_ORDINAL) * _DAY


@lru_cache(maxsize=16384)
def _year_transitions(zone: zoneinfo.ZoneInfo, year: int) -> tuple[tuple[int, int], ...]:
    """(instant, offset before) of each offset change in (Jan 1 `year`, Jan 1 `year`+1] UTC."""
    end = _year_start(year + 1) if year < _LAST_YEAR else _year_start(year) + 365 * _DAY
    changes = []
    low = _year_start(year)
    low_offset = _offset(zone, low)
    while low < end:
        high = min(low + _SAMPLE_STEP, end)
        high_offset = _offset(zone, high)
        if high_offset != low_offset:
            before, after = low, high
            while after - before > 1:
                middle = (before + after) // 2
                if _offset(zone, middle) == low_offset:
                    before = middle
                else:
                    after = middle
            changes.append((after, low_offset))
        low, low_offset = high, high_offset
    return tuple(changes)
