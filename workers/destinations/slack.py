"""Slack destination: a message to an incoming-webhook URL with the text content or a link."""

from __future__ import annotations

import json

from shared.settings import Settings
from workers.destinations.base import Artifact, DeliveryContext, DeliveryError, Post, Receipt
from workers.destinations.http_status import destination_url, post
from workers.outbound import HttpClient
from workers.templating import TemplateFailure, render_template

MAX_INLINE_CHARS = 3500  # Slack truncates long messages; past this we link instead
_INLINE_TYPES = ("text/plain", "text/csv", "application/json")


def slack_text(delivery: DeliveryContext, artifact: Artifact, public_url: str) -> str:
    """The message: the optional text template, then the content inline or a link to the run (pure)."""
    intro = ""
    template = delivery.destination.get("text")
    if template:
        try:
            intro = render_template(str(template), {"schedule": {"name": delivery.schedule_name,
                                                                 "id": str(delivery.schedule_id)},
                                                    "run": {"id": str(delivery.run_id)}})
        except TemplateFailure as exc:
            raise DeliveryError(str(exc), permanent=True) from None
    kind = artifact.content_type.split(";")[0].strip().lower()
    text = artifact.body.decode("utf-8", "replace") if kind in _INLINE_TYPES else ""
    if text and len(text) <= MAX_INLINE_CHARS:
        body = text if kind == "text/plain" else f"```{text}```"
    else:
        body = (f"{delivery.schedule_name}: {artifact.filename} ({len(artifact.body)} bytes) "
                f"<{public_url.rstrip('/')}/v1/runs/{delivery.run_id}|run {delivery.run_id}>")
    return f"{intro}\n{body}" if intro else body


class SlackDestination:
    """POSTs {"text": ...} to a Slack incoming webhook on the pooled client; raises DeliveryError like a webhook."""

    def __init__(self, settings: Settings, http: HttpClient) -> None:
        self.settings = settings
        self.http = http

    def posting(self, delivery: DeliveryContext, artifact: Artifact) -> Post:
        """The message as Slack's JSON; raises DeliveryError (permanent) for a bad URL or text template."""
        url = destination_url(delivery, self.settings)
        payload = json.dumps({"text": slack_text(delivery, artifact, self.settings.public_url)}).encode()
        return Post(url, payload, {"Content-Type": "application/json"}, "Slack")

    def send(self, delivery: DeliveryContext, artifact: Artifact) -> Receipt:
        """Post the message; raises DeliveryError (4xx permanent but 408/429, 410 disables)."""
        return post(self.http, self.settings, self.posting(delivery, artifact))

    def close(self) -> None:
        """Nothing to release: connections stay in the process's pool for the next batch."""
