"""Webhook destination: POST signed per the Standard Webhooks spec, with an Idempotency-Key."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time

import requests

from shared.errors import InvalidInput
from shared.outbound import check_url
from shared.settings import Settings
from workers.destinations.base import Artifact, DeliveryContext, DeliveryError, Receipt

RETRYABLE_STATUS = frozenset({408, 429})


def sign_payload(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """Return the `webhook-signature` value for a body; raises ValueError on a malformed secret."""
    key = base64.b64decode(secret.removeprefix("whsec_"), validate=True)
    signed = f"{message_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def _retry_after(response: requests.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


class WebhookDestination:
    """POSTs the artifact to a URL; raises DeliveryError (permanent for 4xx but 408/429)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def send(self, delivery: DeliveryContext, artifact: Artifact) -> Receipt:
        url = str(delivery.destination.get("url", ""))
        try:
            # Checked again at send time: DNS may have changed since the schedule was saved.
            check_url(url, self.settings.outbound_allowlist)
        except InvalidInput as exc:
            raise DeliveryError(exc.detail, permanent=True) from None
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
            headers["webhook-signature"] = sign_payload(str(secret), message_id, timestamp, artifact.body)
        try:
            response = requests.post(
                url, data=artifact.body, headers=headers, allow_redirects=False,
                timeout=(self.settings.http_connect_timeout_s, self.settings.http_read_timeout_s),
            )
        except requests.RequestException as exc:
            raise DeliveryError(f"{type(exc).__name__}: {exc}") from None
        code = response.status_code
        if 200 <= code < 300:
            return Receipt(response_code=code)
        reason = f"HTTP {code} from webhook"
        if code == 410:
            raise DeliveryError(reason, permanent=True, response_code=code, disable_destination=True)
        if code in RETRYABLE_STATUS or code >= 500:
            raise DeliveryError(reason, response_code=code, retry_after_s=_retry_after(response))
        raise DeliveryError(reason, permanent=True, response_code=code)
