"""Execute a run: produce the artifact, insert one delivery per recipient, return them to send."""

from __future__ import annotations

import hashlib
import json
import logging
from uuid import UUID

from shared.db import transaction
from shared.sql import deliveries as delivery_sql
from shared.sql import runs as run_sql
from shared.sql.artifacts import insert_artifact
from shared.sql.schedules import get_schedule
from workers.state import get_state

logger = logging.getLogger("punctual.workers")


def execute_run(run_id: UUID) -> list[tuple[str, UUID]]:
    """Claim and execute a run; return (destination kind, delivery id) pairs to publish."""
    state = get_state()
    with transaction(state.pool) as conn:
        run = run_sql.claim_run(conn, run_id)
        if run is None:
            return []  # started already: a redelivered or republished message
        schedule = get_schedule(conn, run.organization_id, run.schedule_id)
        if schedule is None:
            delivery_sql.finish_run(conn, run_id, "failed", error="schedule deleted")
            return []
        body = json.dumps({
            "schedule_id": str(schedule.id), "schedule_name": schedule.name, "run_id": str(run.id),
            "scheduled_for": run.scheduled_for.isoformat(), "trigger": run.trigger,
        }).encode()
        artifact_id = insert_artifact(
            conn, run.organization_id, run.id, None, content_type="application/json",
            filename=f"{schedule.name}.json", body=body, sha256=hashlib.sha256(body).hexdigest(),
        )
        new_ids = delivery_sql.insert_deliveries(
            conn, run.organization_id, run.id, schedule.id, schedule.destination_type,
            schedule.retry_max_attempts,
            [delivery_sql.NewDelivery("destination", None, artifact_id)],
        )
    return [(schedule.destination_type, d) for d in new_ids]
