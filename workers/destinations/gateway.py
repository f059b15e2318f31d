"""Message gateway destination: a text to a phone number, POSTed as JSON to the organization's gateway (the
integration point for an SMS provider), signed per the Standard Webhooks spec like webhooks."""

from __future__ import annotations

import json

from shared.settings import Settings
from workers.destinations.base import Artifact, DeliveryContext, DeliveryError, Post, Receipt
from workers.destinations.http_status import destination_url, post
from workers.destinations.webhook import signed_headers
from workers.outbound import HttpClient


def gateway_body(delivery: DeliveryContext, artifact: Artifact, message_id: str) -> bytes:
    """The JSON the gateway receives: {"to", "text", "message_id"}; raises DeliveryError (permanent)."""
    if len(delivery.recipients) != 1:
        raise DeliveryError("a gateway delivery has exactly one phone number", permanent=True)
    try:
        text = artifact.body.decode()
    except UnicodeDecodeError:
        raise DeliveryError("a gateway message must be text", permanent=True) from None
    return json.dumps({"to": delivery.recipients[0], "text": text, "message_id": message_id}).encode()


class GatewayDestination:
    """POSTs {"to", "text", "message_id"} to the organization's message gateway, signed with its secret; raises
    DeliveryError (permanent for 4xx but 408/429)."""

    def __init__(self, settings: Settings, http: HttpClient) -> None:
        self.settings = settings
        self.http = http

    def posting(self, delivery: DeliveryContext, artifact: Artifact) -> Post:
        """The message as the gateway's JSON, signed; raises DeliveryError (permanent) when it cannot be made."""
        url = destination_url(delivery, self.settings)
        # The same id on every attempt of this recipient's message: the gateway drops a retry it already sent.
        message_id = delivery.idempotency_key or str(delivery.delivery_id)
        body = gateway_body(delivery, artifact, message_id)
        headers = signed_headers(delivery, "application/json", body, "message gateway")
        return Post(url, body, headers, "message gateway")

    def send(self, delivery: DeliveryContext, artifact: Artifact) -> Receipt:
        """POST the message signed; raises DeliveryError."""
        return post(self.http, self.settings, self.posting(delivery, artifact))

    def close(self) -> None:
        """Nothing to release: connections stay in the process's pool for the next batch."""
