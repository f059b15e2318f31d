"""The one interface every destination implements."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, runtime_checkable
from uuid import UUID

from shared.settings import Settings
from workers.commands.base import SubscriberInfo
from workers.outbound import HttpClient


class DeliveryError(Exception):
    """A failed send; `permanent` ones are not retried, `retry_after_s` honours the receiver."""

    def __init__(self, message: str, *, permanent: bool = False, response_code: int | None = None,
                 retry_after_s: float | None = None, disable_destination: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.permanent = permanent
        self.response_code = response_code
        self.retry_after_s = retry_after_s
        self.disable_destination = disable_destination


@dataclass(frozen=True)
class Artifact:
    content_type: str
    filename: str
    body: bytes
    sha256: str = ""


@dataclass(frozen=True)
class DeliveryContext:
    """What a destination needs to know about one delivery."""
    delivery_id: UUID
    run_id: UUID
    schedule_id: UUID
    schedule_name: str
    scheduled_for: datetime
    attempt: int
    destination: dict[str, Any]
    secrets: dict[str, Any]
    recipients: list[str] = field(default_factory=list)
    idempotency_key: str = ""
    schedule_timezone: str = "UTC"
    subscriber: SubscriberInfo | None = None


@dataclass(frozen=True)
class Receipt:
    response_code: int | None = None
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Post:
    """An HTTP destination's send, described: what to POST where, and the name its answers are judged under."""
    url: str
    body: bytes
    headers: dict[str, str]
    label: str  # "webhook", "Slack", "message gateway": in errors such as "HTTP 500 from webhook"


class Destination(Protocol):
    """One destination kind. An instance serves one batch: it may keep a connection open between
    sends (one SMTP connection, one SFTP session per host) and releases it in close()."""

    def __init__(self, settings: Settings, http: HttpClient) -> None: ...

    def send(self, delivery: DeliveryContext, artifact: Artifact) -> Receipt:
        """Deliver the artifact; raises DeliveryError."""
        ...

    def close(self) -> None:
        """Release what the batch held open; never raises."""
        ...


@runtime_checkable
class HttpDestination(Destination, Protocol):
    """An HTTP kind (webhook, Slack, message gateway): it describes each send, so that a batch's POSTs go
    out together on the process's client (workers/delivering.py); send() is one posting, posted."""

    def posting(self, delivery: DeliveryContext, artifact: Artifact) -> Post:
        """The POST that delivers the artifact; raises DeliveryError (permanent) when there is none to make."""
        ...
