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

    @property
    def timezone(self) -> str:
        """The subscriber's time zone, else the schedule's."""
        return self.subscriber.timezone if self.subscriber else self.schedule_timezone


@dataclass(frozen=True)
class Rows:
    columns: list[str]
    rows: list[tuple[Any, ...]]


@dataclass(frozen=True)
class Document:
    data: Any  # JSON-able


@dataclass(frozen=True)
class Text:
    text: str
    html: bool = False


@dataclass(frozen=True)
class Blob:
    body: bytes
    content_type: str


Content = Rows | Document | Text | Blob


class Command(Protocol):
    def __init__(self, settings: Settings) -> None: ...

    def run(self, request: CommandRequest) -> Content:
        """Produce the content; raises CommandError."""
        ...
