"""Rate limits on Redis, answered 429 with Retry-After: per API token across every route, and failed
authentications per client address."""

from __future__ import annotations

import logging
import time

from flask import Flask, Response, current_app, g
from flask_limiter import Limiter, RequestLimit
from limits import parse_many
from limits.storage import storage_from_string
from limits.strategies import FixedWindowRateLimiter

from api.errors import error_response
from shared.errors import RateLimited
from shared.settings import Settings

logger = logging.getLogger("punctual.api")


def _token_key() -> str:
    return f"token:{g.token_id}"


def _unauthenticated() -> bool:
    # Health, docs and unknown routes carry no token; authentication already refused bad tokens.
    return getattr(g, "token_id", None) is None


def _breached(limit: RequestLimit) -> Response:
    # The limiter raises its 429 with this response, and adds Retry-After and the X-RateLimit headers.
    return error_response(f"Rate limit exceeded: {limit.limit} per token (PUNCTUAL_RATE_LIMIT)", 429)


class AuthFailureLimit:
    """Counts failed authentications (missing, malformed, unknown, revoked or expired tokens) per client
    address; once over the limit every request from that address answers 429 until the window ends, valid
    token or not, so guessing tokens gains nothing."""

    def __init__(self, settings: Settings) -> None:
        self.limits = parse_many(settings.auth_failure_limit)
        self.storage = storage_from_string(settings.redis_url, socket_timeout=2, socket_connect_timeout=2)
        self.strategy = FixedWindowRateLimiter(self.storage)

    def check(self, address: str) -> None:
        """Raise RateLimited if this address has failed authentication too often lately."""
        try:
            for limit in self.limits:
                if not self.strategy.test(limit, "punctual-auth-failures", address):
                    reset = self.strategy.get_window_stats(limit, "punctual-auth-failures", address).reset_time
                    raise RateLimited(f"Too many failed authentications from this address: at most {limit} "
                                      "(PUNCTUAL_AUTH_FAILURE_LIMIT)", int(reset - time.time()) + 1)
        except self.storage.base_exceptions:
            # Redis only carries messages and counters: if it is down, serve rather than fail every call.
            logger.warning("auth failure limit unavailable: cannot reach Redis")

    def record(self, address: str) -> None:
        """Count one failed authentication from this address."""
        try:
            for limit in self.limits:
                self.strategy.hit(limit, "punctual-auth-failures", address)
        except self.storage.base_exceptions:
            logger.warning("auth failure limit unavailable: cannot reach Redis")


def auth_failure_limit() -> AuthFailureLimit:
    """The app's failed-authentication limit."""
    return current_app.extensions["punctual_auth_failures"]  # type: ignore[no-any-return]


def register_rate_limit(app: Flask, settings: Settings) -> Limiter:
    """Install both limits; must run after authentication is registered (hooks run in order)."""
    app.extensions["punctual_auth_failures"] = AuthFailureLimit(settings)
    limiter = Limiter(
        _token_key,
        app=app,
        # An application limit is one budget per token shared by every route (a default limit
        # would give each route its own budget, so 20 routes would allow 20 times the rate).
        application_limits=[settings.rate_limit],
        application_limits_exempt_when=_unauthenticated,
        on_breach=_breached,
        storage_uri=settings.redis_url,
        strategy="fixed-window",
        headers_enabled=True,
        # Redis only carries messages and counters: if it is down, serve rather than fail every call.
        swallow_errors=True,
        key_prefix="punctual-rl",
    )
    return limiter
