"""Webhook destination: POST signed per the Standard Webhooks spec, with an Idempotency-Key."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time

from shared.settings import Settings
from workers.destinations.base import Artifact, DeliveryContext, DeliveryError, Post, Receipt
from workers.destinations.http_status import destination_url, post
from workers.outbound import HttpClient


def sign_payload(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """Return the `webhook-signature` value for a body; raises ValueError on a malformed secret."""
    key = base64.b64decode(secret.removeprefix("whsec_"), validate=True)
    signed = f"{message_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def signed_headers(delivery: DeliveryContext, content_type: str, body: bytes, what: str) -> dict[str, str]:
    """Standard Webhooks headers for a body, signed when the delivery has a secret; raises DeliveryError
    (permanent) on a malformed secret, naming `what` it belongs to."""
    # The same id on every attempt, so a receiver can drop a retry of something it already has.
    message_id = delivery.idempotency_key or str(delivery.delivery_id)
    timestamp = int(time.time())
    headers = {"Content-Type": content_type, "Idempotency-Key": message_id, "webhook-id": message_id,
               "webhook-timestamp": str(timestamp)}
    secret = delivery.secrets.get("secret")
    if secret:
        try:
            headers["webhook-signature"] = sign_payload(str(secret), message_id, timestamp, body)
        except ValueError:
            raise DeliveryError(f"{what} secret is not whsec_<base64>", permanent=True) from None
    return headers


class WebhookDestination:
    """POSTs the artifact to a URL on a pooled keep-alive connection; raises DeliveryError
    (permanent for 4xx but 408/429; 410 disables)."""

    def __init__(self, settings: Settings, http: HttpClient) -> None:
        self.settings = settings
        self.http = http

    def posting(self, delivery: DeliveryContext, artifact: Artifact) -> Post:
        """The artifact, signed, to the URL; raises DeliveryError (permanent) for a bad URL or secret."""
        url = destination_url(delivery, self.settings)
        headers = signed_headers(delivery, artifact.content_type, artifact.body, "webhook")
        return Post(url, artifact.body, headers, "webhook")

    def send(self, delivery: DeliveryContext, artifact: Artifact) -> Receipt:
        """POST the artifact signed; raises DeliveryError."""
        return post(self.http, self.settings, self.posting(delivery, artifact))

    def close(self) -> None:
        """Nothing to release: connections stay in the process's pool for the next batch."""
