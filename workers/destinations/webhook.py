"""Webhook destination: POST signed per the Standard Webhooks spec, with an Idempotency-Key."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time

import requests

from shared.settings import Settings
from workers.destinations.base import Artifact, DeliveryContext, DeliveryError, Receipt
from workers.destinations.http_status import destination_url, raise_for_answer


def sign_payload(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """Return the `webhook-signature` value for a body; raises ValueError on a malformed secret."""
    key = base64.b64decode(secret.removeprefix("whsec_"), validate=True)
    signed = f"{message_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


class WebhookDestination:
    """POSTs the artifact to a URL; raises DeliveryError (permanent for 4xx but 408/429; 410 disables)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def send(self, delivery: DeliveryContext, artifact: Artifact) -> Receipt:
        """POST the artifact signed; raises DeliveryError."""
        url = destination_url(delivery, self.settings)
        # The same id on every attempt, so a receiver can drop a retry of something it already has.
        message_id = delivery.idempotency_key or str(delivery.delivery_id)
        timestamp = int(time.time())
        headers = {
            "Content-Type": artifact.content_type,
            "Idempotency-Key": message_id,
            "webhook-id": message_id,
            "webhook-timestamp": str(timestamp),
            "User-Agent": "Punctual/0.1",
        }
        secret = delivery.secrets.get("secret")
        if secret:
            try:
                headers["webhook-signature"] = sign_payload(str(secret), message_id, timestamp, artifact.body)
            except ValueError:
                raise DeliveryError("webhook secret is not whsec_<base64>", permanent=True) from None
        try:
            response = requests.post(
                url, data=artifact.body, headers=headers, allow_redirects=False,
                timeout=(self.settings.http_connect_timeout_s, self.settings.http_read_timeout_s),
            )
        except requests.RequestException as exc:
            raise DeliveryError(f"{type(exc).__name__}: {exc}") from None
        raise_for_answer(response, "webhook", time.time())
        return Receipt(response_code=response.status_code)
