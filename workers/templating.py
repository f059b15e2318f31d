"""Sandboxed Jinja2 for command templates and email subjects and bodies."""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from jinja2 import Template, TemplateError

from shared.templating import HTML_ENVIRONMENT, TEXT_ENVIRONMENT


class TemplateFailure(Exception):
    """A template that does not parse or render; the message names the problem."""


@lru_cache(maxsize=256)
def _compiled(source: str, html: bool) -> Template:
    # Compiling costs ten times the rendering of a short subject; a batch of emails (and every run of a
    # schedule) renders the same few sources, so compile each once per process. A source that fails to
    # compile raises and is not cached.
    return (HTML_ENVIRONMENT if html else TEXT_ENVIRONMENT).from_string(source)


def render_template(source: str, context: dict[str, Any], *, html: bool = False) -> str:
    """Render source in the sandbox (HTML autoescaped); raises TemplateFailure."""
    try:
        return _compiled(source, html).render(context)
    except TemplateError as exc:
        raise TemplateFailure(f"template: {type(exc).__name__}: {exc}") from None


def local_time(moment: datetime, timezone: str) -> datetime:
    """Return moment in the IANA zone, or in UTC when the zone is unknown."""
    try:
        return moment.astimezone(ZoneInfo(timezone))
    except (ZoneInfoNotFoundError, ValueError):
        return moment.astimezone(ZoneInfo("UTC"))
