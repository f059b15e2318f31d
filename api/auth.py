"""Bearer-token auth: every /v1 request but health and docs belongs to one organization (and maybe one user)."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID

from flask import Flask, g, request

from api.db import get_pool
from api.rate_limit import auth_failure_limit
from shared.db import transaction
from shared.errors import Unauthorized
from shared.sql.organizations import LAST_USED_RESOLUTION, ApiToken, find_token, touch_token

PUBLIC_PATHS = frozenset({"/v1/health", "/v1/openapi.json"})
PUBLIC_PREFIXES = ("/v1/docs",)


def current_organization_id() -> UUID:
    """Return the caller's organization id (set by authenticate)."""
    return g.organization_id  # type: ignore[no-any-return]


def current_user_id() -> UUID | None:
    """Return the member user the caller's token acts for, or None for an organization-wide token."""
    return g.get("user_id")


def _bearer_token() -> str:
    header = request.headers.get("Authorization")
    if not header:
        raise Unauthorized("Missing Authorization header")
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or " " in token:
        raise Unauthorized("Malformed Authorization header: expected 'Bearer <token>'")
    return token


def _resolve(token: str, now: datetime) -> ApiToken:
    with transaction(get_pool()) as conn:
        row = find_token(conn, token)
        if row is None or row.revoked_at is not None:
            raise Unauthorized("Invalid or revoked token")
        if row.is_expired(now):
            raise Unauthorized("Token expired")
        if row.last_used_at is None or now - row.last_used_at >= LAST_USED_RESOLUTION:
            touch_token(conn, row.id)
    return row


def authenticate() -> None:
    """Resolve the bearer token to an organization; raises Unauthorized, or RateLimited for an address
    that failed too often."""
    path = request.path
    if path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES) or not path.startswith("/v1/"):
        return
    if request.url_rule is None:
        return  # unknown route: answer 404, not 401
    failures = auth_failure_limit()
    address = request.remote_addr or "unknown"
    failures.check(address)
    try:
        row = _resolve(_bearer_token(), datetime.now(UTC))
    except Unauthorized:
        failures.record(address)
        raise
    g.organization_id = row.organization_id
    g.token_id = row.id
    g.user_id = row.user_id


def register_auth(app: Flask) -> None:
    """Run authenticate before every request."""
    app.before_request(authenticate)
