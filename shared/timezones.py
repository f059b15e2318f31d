"""Time zones: which IANA names a user may give, and the zone for a stored name.

Pure (the tz database is read from the installed tzdata, never the network).

The tz database keeps some non-geographic legacy names for compatibility: abbreviations and
POSIX-style rule zones (`EST` is UTC-05:00 all year and never follows New York's DST, `CET`,
`EST5EDT`) and aliases of UTC (`GMT`, `Zulu`, `Etc/UCT`). Giving one where a region's time is
meant is a classic mistake, so new input naming one is refused with the zone to use instead.
`UTC` and `Etc/UTC` stay valid, as do geographic names (old links such as `US/Eastern`
included) and the deliberate fixed offsets `Etc/GMT+5`-style (whose sign is inverted: that one
is UTC-05:00). A stored name is never refused by the engine (`zone_named`), so rows saved before
a name was refused keep firing.
"""

from __future__ import annotations

import zoneinfo
from functools import lru_cache

from shared.errors import InvalidInput

INVALID_TIMEZONE = "timezone: Time zone must be IANA valid."

_NOT_ZONES = frozenset({"localtime", "posixrules"})
_UTC = '"UTC"'
_LONDON_OR_UTC = '"Europe/London" or "UTC"'
# Each refused name and the suggestion its message gives.
LEGACY_ZONES: dict[str, str] = {
    "EST": '"America/New_York"',
    "EST5EDT": '"America/New_York"',
    "CST6CDT": '"America/Chicago"',
    "MST": '"America/Denver" or "America/Phoenix"',
    "MST7MDT": '"America/Denver"',
    "PST8PDT": '"America/Los_Angeles"',
    "HST": '"Pacific/Honolulu"',
    "CET": '"Europe/Paris"',
    "MET": '"Europe/Paris"',
    "EET": '"Europe/Athens"',
    "WET": '"Europe/Lisbon"',
    "GMT": _LONDON_OR_UTC,
    "Greenwich": _LONDON_OR_UTC,
    "Etc/GMT": _LONDON_OR_UTC,
    "Etc/Greenwich": _LONDON_OR_UTC,
    **{name: _UTC for name in ("GMT0", "GMT+0", "GMT-0", "Etc/GMT0", "Etc/GMT+0", "Etc/GMT-0", "UCT",
                               "Universal", "Zulu", "Etc/UCT", "Etc/Universal", "Etc/Zulu", "Factory")},
}


@lru_cache(maxsize=1)
def _zone_names() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones()) - _NOT_ZONES


def legacy_zone_error(name: str) -> InvalidInput:
    """The error for a refused legacy name (one of LEGACY_ZONES)."""
    return InvalidInput(f'timezone: The timezone {name} is not supported. '
                        f'Use e.g. {LEGACY_ZONES[name]} instead of "{name}"')


def zone_named(name: str) -> zoneinfo.ZoneInfo:
    """The ZoneInfo for any name in the tz database, legacy ones included; raises InvalidInput if unknown."""
    if not isinstance(name, str) or name not in _zone_names():
        raise InvalidInput(INVALID_TIMEZONE)
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError) as error:
        raise InvalidInput(INVALID_TIMEZONE) from error


def validate_timezone(name: str) -> zoneinfo.ZoneInfo:
    """The ZoneInfo for a name a user may choose; raises InvalidInput (`timezone: ...`) if unknown or legacy."""
    zone = zone_named(name)
    if name in LEGACY_ZONES:
        raise legacy_zone_error(name)
    return zone
