"""Sandboxed Jinja2 for command templates and email subjects and bodies."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from jinja2 import TemplateError

from shared.templating import HTML_ENVIRONMENT, TEXT_ENVIRONMENT


class TemplateFailure(Exception):
    """A template that does not parse or render; the message names the problem."""


def render_template(source: str, context: dict[str, Any], *, html: bool = False) -> str:
    """Render source in the sandbox (HTML autoescaped); raises TemplateFailure."""
    env = HTML_ENVIRONMENT if html else TEXT_ENVIRONMENT
    try:
        return env.from_string(source).render(context)
    except TemplateError as exc:
        raise TemplateFailure(f"template: {type(exc).__name__}: {exc}") from None


def local_time(moment: datetime, timezone: str) -> datetime:
    """Return moment in the IANA zone, or in UTC when the zone is unknown."""
    try:
        return moment.astimezone(ZoneInfo(timezone))
    except (ZoneInfoNotFoundError, ValueError):
        return moment.astimezone(ZoneInfo("UTC"))
