"""`GET /metrics` (Prometheus) and the latency of every request, labelled by route template.

/metrics is not under /v1 and not in the OpenAPI document: it is for the operator's Prometheus,
not for API clients. With PUNCTUAL_METRICS_TOKEN set it answers only `Authorization: Bearer
<that token>`; without it only direct connections from the machine itself, so a default install
never shows its numbers to the internet (behind a proxy, or scraped from another host, set a token).
"""

from __future__ import annotations

import hmac
import ipaddress
import time

from flask import Flask, Response, g, request, request_started
from prometheus_client.exposition import choose_encoder

from shared.celery_app import celery_config
from shared.errors import Unauthorized
from shared.metrics import API_METRICS, API_REQUEST_SECONDS, DatabaseCollector, build_registry
from shared.settings import Settings

UNMATCHED_ROUTE = "<unmatched>"  # 404s and 405s: one label, whatever path was asked for
_FORWARDED = ("Forwarded", "X-Forwarded-For", "X-Real-Ip")


def register_metrics(app: Flask, settings: Settings) -> None:
    """Time every request and serve /metrics (summing gunicorn workers in multiprocess mode)."""
    queues = [queue.name for queue in celery_config(settings)["task_queues"]]
    registry = build_registry(API_METRICS, DatabaseCollector(settings, app.extensions["punctual_pool"], queues))

    # request_started comes before every before_request hook, so a request that authentication
    # or the rate limit answers early is timed too.
    request_started.connect(_start_timer, app)
    app.after_request(_observe)

    def metrics() -> Response:
        _authorize(settings)
        encoder, content_type = choose_encoder(request.headers.get("Accept", ""))
        return Response(encoder(registry), content_type=content_type)

    app.add_url_rule("/metrics", "metrics", metrics, methods=["GET"])


def _start_timer(_sender: Flask, **_: object) -> None:
    g.punctual_started = time.perf_counter()


def _observe(response: Response) -> Response:
    started = g.get("punctual_started")
    if started is not None:
        route = request.url_rule.rule if request.url_rule is not None else UNMATCHED_ROUTE
        API_REQUEST_SECONDS.labels(request.method, route, f"{response.status_code // 100}xx").observe(
            time.perf_counter() - started)
    return response


def _authorize(settings: Settings) -> None:
    """Allow the scrape or raise Unauthorized."""
    if settings.metrics_token:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(),
                                                                 settings.metrics_token.encode()):
            raise Unauthorized("Metrics need Authorization: Bearer <PUNCTUAL_METRICS_TOKEN>")
        return
    if not _is_direct_loopback():
        raise Unauthorized("Metrics are served only to this machine unless PUNCTUAL_METRICS_TOKEN is set")


def _is_direct_loopback() -> bool:
    # A proxy on this machine connects from loopback too; its forwarding headers say the request
    # came from elsewhere.
    if any(header in request.headers for header in _FORWARDED):
        return False
    try:
        return ipaddress.ip_address(request.remote_addr or "").is_loopback
    except ValueError:
        return False
