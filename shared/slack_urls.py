"""Slack incoming-webhook URLs are credentials (whoever has one can post to the channel): stored with a
destination's encrypted secrets, shown masked, and found by the worker among the decrypted secrets.

Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol
from urllib.parse import urlsplit

MASK = "****"


class HasDestination(Protocol):
    """What a delivery carries: its destination's public part and its decrypted secrets."""

    @property
    def destination(self) -> Mapping[str, Any]: ...

    @property
    def secrets(self) -> Mapping[str, Any]: ...


def mask_slack_url(url: str) -> str:
    """The URL with its last path segment (the secret token) masked and without user, password, query or
    fragment: https://hooks.slack.com/services/T000/B000/XXXX -> https://hooks.slack.com/services/T000/B000/****."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return MASK
    if ":" in host:
        host = f"[{host}]"
    segments = parts.path.strip("/").split("/")
    kept = "/".join(segments[:-1])
    return f"{parts.scheme}://{host}{port}/{kept + '/' if kept else ''}{MASK}"


def slack_url(delivery: HasDestination) -> str:
    """The URL a delivery posts to: a Slack destination keeps it in its encrypted secrets; a webhook's is
    public (its signing secret is what it keeps secret)."""
    return str(delivery.secrets.get("url") or delivery.destination.get("url") or "")
