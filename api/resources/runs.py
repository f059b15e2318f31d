"""Runs: one run with its deliveries and every attempt."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from api.auth import current_organization_id
from api.db import get_pool
from api.docs import ApiBlueprint, error_responses
from api.params import parse_uuid
from api.schemas.runs import RunDetailOut
from shared.db import transaction
from shared.errors import NotFound
from shared.sql import deliveries as delivery_sql
from shared.sql import runs as run_sql

blp = ApiBlueprint("runs", __name__, url_prefix="/v1/runs", description="Runs and their deliveries")


@blp.route("/<id:run_id>", methods=["GET"])
@blp.response(200, RunDetailOut)
@error_responses(blp, 400, 404)
def get_run(run_id: str) -> dict[str, Any]:
    """Read a run with its deliveries and every attempt (time, outcome, error)."""
    rid = parse_uuid(run_id, "run_id")
    org = current_organization_id()
    with transaction(get_pool()) as conn:
        run = run_sql.get_run(conn, org, rid)
        if run is None:
            raise NotFound(f"Run with id {rid} does not exist")
        deliveries = delivery_sql.list_deliveries(conn, org, rid)
        attempts = delivery_sql.list_attempts(conn, org, [d.id for d in deliveries])
    by_delivery: dict[Any, list[Any]] = defaultdict(list)
    for attempt in attempts:
        by_delivery[attempt.delivery_id].append(attempt)
    return {
        **run.__dict__,
        "deliveries": [{**d.__dict__, "attempt_log": by_delivery[d.id]} for d in deliveries],
    }
