"""Slack webhook URLs are credentials: the masked form shown by the API, and where a delivery finds the URL."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from shared.slack_urls import mask_slack_url, slack_url


@pytest.mark.parametrize(("url", "masked"), [
    ("https://hooks.slack.com/services/T000/B000/XXXXXXXXXXXXXXXX", "https://hooks.slack.com/services/T000/B000/****"),
    ("https://user:pw@hooks.slack.com/services/T0/B0/secret?x=1#f", "https://hooks.slack.com/services/T0/B0/****"),
    ("http://127.0.0.1:8080/services/T0/B0/x/", "http://127.0.0.1:8080/services/T0/B0/****"),
    ("https://hooks.slack.com/triggers/T01/123/abc", "https://hooks.slack.com/triggers/T01/123/****"),
    ("https://example.com", "https://example.com/****"),
    ("http://[::1]:9/a/b", "http://[::1]:9/a/****"),
    ("http://[::1/x", "****"),
])
def test_mask_hides_the_token_and_any_credentials(url: str, masked: str) -> None:
    assert mask_slack_url(url) == masked
    assert "secret" not in mask_slack_url(url) and "pw" not in mask_slack_url(url)


@dataclass
class _Delivery:
    destination: dict[str, Any] = field(default_factory=dict)
    secrets: dict[str, Any] = field(default_factory=dict)


def test_slack_url_comes_from_the_secrets_and_a_webhooks_from_its_public_part() -> None:
    slack = _Delivery({"text": "hi", "masked_url": "https://hooks.slack.com/services/T/B/****"},
                      {"url": "https://hooks.slack.com/services/T/B/real"})
    assert slack_url(slack) == "https://hooks.slack.com/services/T/B/real"
    assert slack_url(_Delivery({"url": "https://example.com/hook"}, {"secret": "whsec_x"})) == \
        "https://example.com/hook"
    assert slack_url(_Delivery()) == ""
