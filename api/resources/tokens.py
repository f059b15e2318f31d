"""API tokens of the caller's organization: list them, revoke one. Tokens are created with
`punctual tokens create` (the token is shown once, never stored)."""

from __future__ import annotations

from typing import Any

from api.auth import current_organization_id
from api.db import get_pool
from api.docs import ApiBlueprint, error_responses
from api.paging import build_page, keyset, read_cursor
from api.params import parse_uuid
from api.schemas.tokens import TokenListArgs, TokenPage
from shared.db import transaction
from shared.errors import NotFound
from shared.sql import organizations as token_sql

blp = ApiBlueprint("tokens", __name__, url_prefix="/v1/tokens", description="API tokens")
SORT = "tokens:created_at:asc"


@blp.route("", methods=["GET"])
@blp.arguments(TokenListArgs, location="query")
@blp.response(200, TokenPage)
@error_responses(blp, 400)
def list_tokens(args: dict[str, Any]) -> dict[str, Any]:
    """List the organization's tokens (prefix, name, user, created, last used, expiry, revoked; never the token)."""
    size, cursor = read_cursor(args, SORT)
    org = current_organization_id()
    with transaction(get_pool()) as conn:
        rows = token_sql.list_tokens(conn, org, limit=size + 1, after=keyset(cursor))
        total = cursor.total if cursor and cursor.total is not None else token_sql.count_tokens(conn, org)
    return build_page(rows, size, SORT, total, lambda t: (t.created_at, t.id))


@blp.route("/<id:token_id>", methods=["DELETE"])
@blp.response(204)
@error_responses(blp, 400, 404)
def revoke_token(token_id: str) -> None:
    """Revoke a token at once (the caller's own included); revoking a revoked token changes nothing."""
    tid = parse_uuid(token_id, "token_id")
    org = current_organization_id()
    with transaction(get_pool()) as conn:
        if token_sql.get_token(conn, tid, org) is None:
            raise NotFound(f"Token with id {tid} does not exist")
        token_sql.revoke_token(conn, org, tid)
