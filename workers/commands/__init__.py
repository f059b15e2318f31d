"""Commands: built-in content producers and third-party kinds from the `punctual.commands` entry points."""

from __future__ import annotations

import logging
from importlib.metadata import entry_points

from shared.settings import Settings
from workers.commands.base import Command, CommandError
from workers.commands.http import HttpCommand
from workers.commands.sql import SqlCommand
from workers.commands.template import TemplateCommand

logger = logging.getLogger("punctual.workers")
ENTRY_POINT_GROUP = "punctual.commands"
BUILTIN: dict[str, type[Command]] = {
    "http": HttpCommand,
    "sql": SqlCommand,
    "template": TemplateCommand,
}


def _plugin(kind: str) -> type[Command] | None:
    # Looked up on demand so that installing a plugin needs a worker restart only, not a code change.
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        if entry.name == kind:
            loaded: type[Command] = entry.load()
            return loaded
    return None


def get_command(kind: str, settings: Settings) -> Command:
    """Return the command for a kind; raises CommandError for a kind nobody provides."""
    cls = BUILTIN.get(kind) or _plugin(kind)
    if cls is None:
        raise CommandError(f"unknown command kind {kind!r} (no built-in and no '{ENTRY_POINT_GROUP}' entry point)")
    return cls(settings)
