"""Rate limits per API token (flask-limiter on Redis), answered 429 with Retry-After."""

from __future__ import annotations

from flask import Flask, g
from flask_limiter import Limiter

from shared.settings import Settings


def _token_key() -> str:
    return f"token:{g.token_id}"


def _unauthenticated() -> bool:
    # Health, docs and unknown routes carry no token; authentication already refused bad tokens.
    return getattr(g, "token_id", None) is None


def register_rate_limit(app: Flask, settings: Settings) -> Limiter:
    """Install the per-token limit; must run after authentication is registered (hooks run in order)."""
    limiter = Limiter(
        _token_key,
        app=app,
        default_limits=[settings.rate_limit],
        default_limits_exempt_when=_unauthenticated,
        storage_uri=settings.redis_url,
        strategy="fixed-window",
        headers_enabled=True,
        # Redis only carries messages and counters: if it is down, serve rather than fail every call.
        swallow_errors=True,
        key_prefix="punctual-rl",
    )
    return limiter
