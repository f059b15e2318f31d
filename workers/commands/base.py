"""The one interface every command (content producer) implements, and what it returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol
from uuid import UUID

from shared.settings import Settings
from shared.sql.data_sources import ResolvedSource


class CommandError(Exception):
    """The command could not produce content; the message is safe to record on the run."""


@dataclass(frozen=True)
class SubscriberInfo:
    id: UUID
    email: str
    name: str | None
    timezone: str
    attributes: dict[str, Any]

    def as_json(self) -> dict[str, Any]:
        return {"id": str(self.id), "email": self.email, "name": self.name, "timezone": self.timezone,
                "attributes": self.attributes}


@dataclass(frozen=True)
class CommandRequest:
    """What a command knows about the run it produces content for."""
    schedule_id: UUID
    schedule_name: str
    schedule_timezone: str
    run_id: UUID
    scheduled_for: datetime
    trigger: str
    filters: dict[str, Any]
    subscriber: SubscriberInfo | None
    config: dict[str, Any]
    secrets: dict[str, Any] = field(default_factory=dict)
    data_source: ResolvedSource | None = None  # sql commands: the organization's source, resolved by name
    # The schedule's choices: which named result (None: all) and the most rows per result (None: no cap).
    query_key: str | None = None
    max_rows: int | None = None

    @property
    def timezone(self) -> str:
        """The subscriber's time zone, else the schedule's."""
        return self.subscriber.timezone if self.subscriber else self.schedule_timezone


# What cut a result to its rows (more existed): the schedule's cap or an sql command's own.
LIMITED_BY_MAX_ROW_LIMIT = "max_row_limit"
LIMITED_BY_ROW_LIMIT = "row_limit"


@dataclass(frozen=True)
class Rows:
    columns: list[str]
    rows: list[tuple[Any, ...]]
    limited_by: str | None = None  # set when more rows existed than these (LIMITED_BY_*)


@dataclass(frozen=True)
class Document:
    data: Any  # JSON-able
    limited_by: str | None = None  # set when a list was cut to its first items (LIMITED_BY_*)


@dataclass(frozen=True)
class Text:
    text: str
    html: bool = False


@dataclass(frozen=True)
class Blob:
    body: bytes
    content_type: str


@dataclass(frozen=True)
class Tile:
    key: str
    content: Rows | Document


@dataclass(frozen=True)
class Tiles:
    """Several named results of one command (Omni's dashboard tiles), in the command's order."""
    tiles: list[Tile]


Content = Rows | Document | Text | Blob | Tiles


class Command(Protocol):
    def __init__(self, settings: Settings) -> None: ...

    def run(self, request: CommandRequest) -> Content:
        """Produce the content; raises CommandError."""
        ...
