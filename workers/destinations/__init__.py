"""Destinations: one module per kind behind one interface, and the registry that maps kinds."""

from __future__ import annotations

from shared.settings import Settings
from workers.destinations.base import Destination
from workers.destinations.email import EmailDestination
from workers.destinations.gateway import GatewayDestination
from workers.destinations.sftp import SftpDestination
from workers.destinations.slack import SlackDestination
from workers.destinations.webhook import WebhookDestination
from workers.outbound import HttpClient

REGISTRY: dict[str, type[Destination]] = {
    "email": EmailDestination,
    "sftp": SftpDestination,
    "webhook": WebhookDestination,
    "slack": SlackDestination,
    "gateway": GatewayDestination,
}


def get_destination(kind: str, settings: Settings, http: HttpClient) -> Destination:
    """Return a destination of a kind for one batch; raises KeyError for an unknown kind."""
    return REGISTRY[kind](settings, http)
