"""How an HTTP answer from a webhook or Slack maps to success, a retry or a permanent failure."""

from __future__ import annotations

import time
from collections.abc import Sequence
from email.utils import parsedate_to_datetime
from functools import lru_cache

from shared.errors import InvalidInput
from shared.outbound import check_url
from shared.settings import Settings
from shared.slack_urls import slack_url
from workers.destinations.base import DeliveryContext, DeliveryError, Post, Receipt
from workers.outbound import Answer, HttpClient, OutboundError, OutboundRefused, Outgoing, ResponseTooLarge

RETRYABLE_STATUS = frozenset({408, 429})
ANSWER_CAP_BYTES = 1024 * 1024  # a receiver's answer is read (to keep the connection) but never kept


def destination_url(delivery: DeliveryContext, settings: Settings) -> str:
    """Return the destination's URL if it is a plain http(s) URL; raises DeliveryError (permanent)."""
    url = slack_url(delivery)  # Slack's URL is a credential kept in the secrets; a webhook's is public
    try:
        return _checked_form(url, tuple(settings.outbound_allowlist))
    except InvalidInput as exc:
        raise DeliveryError(exc.detail, permanent=True) from None


@lru_cache(maxsize=1024)
def _checked_form(url: str, allowlist: tuple[str, ...]) -> str:
    # The addresses are checked on each connection the client opens (workers/outbound.py); here only
    # the URL's form, without a lookup: the same answer for the same URL, so once per URL, not per send.
    return check_url(url, allowlist, resolve=False)


def retry_after_seconds(value: str | None, now: float) -> float | None:
    """Parse Retry-After (seconds or an HTTP date) into seconds from now; None when absent or bad (pure)."""
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - now)
    except (TypeError, ValueError, IndexError):
        return None


def raise_for_answer(response: Answer, label: str, now: float) -> None:
    """Return on 2xx; raise DeliveryError: 408/429/5xx retried, 410 disables, other 4xx permanent."""
    code = response.status_code
    if 200 <= code < 300:
        return
    reason = f"HTTP {code} from {label}"
    if code == 410:
        raise DeliveryError(reason + " (Gone: destination disabled)", permanent=True, response_code=code,
                            disable_destination=True)
    if code in RETRYABLE_STATUS or code >= 500:
        raise DeliveryError(reason, response_code=code,
                            retry_after_s=retry_after_seconds(response.headers.get("Retry-After"), now))
    raise DeliveryError(reason, permanent=True, response_code=code)


def post(http: HttpClient, settings: Settings, posting: Post) -> Receipt:
    """POST on the pooled client and judge the answer (a batch of one); raises DeliveryError."""
    result, _ = post_all(http, settings, [posting])[0]
    if isinstance(result, Exception):
        raise result
    return result


def post_all(http: HttpClient, settings: Settings, posts: Sequence[Post]) -> list[tuple[Receipt | Exception, float]]:
    """POST them together (up to PUNCTUAL_DELIVERY_CONCURRENCY in flight) and judge each answer as post()
    does: a receipt or the DeliveryError (any other exception: a bug, for the caller to record), with the
    seconds each took."""
    outcomes = http.send_all([Outgoing("POST", p.url, p.headers, p.body, _timeout(settings), ANSWER_CAP_BYTES)
                              for p in posts], settings.delivery_concurrency)
    judged: list[tuple[Receipt | Exception, float]] = []
    for posting, outcome in zip(posts, outcomes, strict=True):
        try:
            judged.append((judge(outcome.answer, outcome.error, posting.label), outcome.elapsed_s))
        except Exception as exc:
            judged.append((exc, outcome.elapsed_s))
    return judged


def judge(answer: Answer | None, error: BaseException | None, label: str) -> Receipt:
    """A receipt for a 2xx answer; raises DeliveryError for an error or any other answer."""
    if isinstance(error, OutboundRefused):
        raise DeliveryError(error.detail, permanent=True) from None
    if isinstance(error, ResponseTooLarge):
        raise DeliveryError(f"{label} answered with more than {error.cap} bytes") from None
    if isinstance(error, OutboundError):
        raise DeliveryError(str(error)) from None
    if error is not None:
        raise error
    assert answer is not None
    raise_for_answer(answer, label, time.time())
    return Receipt(response_code=answer.status_code)


def _timeout(settings: Settings) -> tuple[float, float]:
    return settings.http_connect_timeout_s, settings.http_read_timeout_s
