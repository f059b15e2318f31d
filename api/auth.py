"""Bearer-token auth: every /v1 request but health and docs belongs to one organization."""

from __future__ import annotations

from uuid import UUID

from flask import Flask, g, request

from api.db import get_pool
from shared.db import transaction
from shared.errors import Unauthorized
from shared.sql.organizations import find_active_token

PUBLIC_PATHS = frozenset({"/v1/health", "/v1/openapi.json"})
PUBLIC_PREFIXES = ("/v1/docs",)


def current_organization_id() -> UUID:
    """Return the caller's organization id (set by authenticate)."""
    return g.organization_id  # type: ignore[no-any-return]


def _bearer_token() -> str:
    header = request.headers.get("Authorization")
    if not header:
        raise Unauthorized("Missing Authorization header")
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or " " in token:
        raise Unauthorized("Malformed Authorization header: expected 'Bearer <token>'")
    return token


def authenticate() -> None:
    """Resolve the bearer token to an organization; raises Unauthorized."""
    path = request.path
    if path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES) or not path.startswith("/v1/"):
        return
    if request.url_rule is None:
        return  # unknown route: answer 404, not 401
    token = _bearer_token()
    with transaction(get_pool()) as conn:
        row = find_active_token(conn, token)
    if row is None:
        raise Unauthorized("Invalid or revoked token")
    g.organization_id = row.organization_id
    g.token_id = row.id


def register_auth(app: Flask) -> None:
    """Run authenticate before every request."""
    app.before_request(authenticate)
