"""Deliver one delivery: record before acting, send, record after, decide on a retry."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime, timedelta
from uuid import UUID

from shared.crypto import decrypt_secret
from shared.db import transaction
from shared.sql import deliveries as delivery_sql
from shared.sql.artifacts import get_artifact
from shared.sql.runs import get_run_unscoped
from shared.sql.schedules import get_schedule, get_schedule_secret
from workers.destinations import get_destination
from workers.destinations.base import Artifact, DeliveryContext, DeliveryError
from workers.retry import backoff_delay
from workers.state import get_state

logger = logging.getLogger("punctual.workers")
OPEN_STATUSES = ("pending", "retrying", "sending")


def deliver_one(delivery_id: UUID) -> float | None:
    """Attempt a delivery once; return seconds until the next attempt, or None when settled."""
    state = get_state()
    with transaction(state.pool) as conn:
        delivery = delivery_sql.get_delivery(conn, delivery_id, for_update=True)
        if delivery is None or delivery.status not in OPEN_STATUSES:
            return None  # settled already: a duplicate message
        run = get_run_unscoped(conn, delivery.run_id)
        schedule = get_schedule(conn, delivery.organization_id, delivery.schedule_id)
        artifact_row = get_artifact(conn, delivery.artifact_id) if delivery.artifact_id else None
        secret = get_schedule_secret(conn, delivery.schedule_id)
        number = delivery_sql.start_attempt(conn, delivery)
    if run is None or schedule is None or artifact_row is None:
        _settle(delivery_id, number, "failed", 0, "schedule, run or artifact no longer exists", None)
        return None
    context = DeliveryContext(
        delivery_id=delivery.id, run_id=run.id, schedule_id=schedule.id, schedule_name=schedule.name,
        scheduled_for=run.scheduled_for.isoformat(), attempt=number,
        destination=schedule.destination, secrets=decrypt_secret(state.settings.secret_key, secret),
        idempotency_key=f"punctual-{delivery.id}",
    )
    artifact = Artifact(artifact_row.content_type, artifact_row.filename, bytes(artifact_row.body),
                        artifact_row.sha256)
    started = time.monotonic()
    try:
        receipt = get_destination(delivery.destination_type, state.settings).send(context, artifact)
    except DeliveryError as exc:
        elapsed = int((time.monotonic() - started) * 1000)
        if exc.permanent or number >= delivery.max_attempts:
            _settle(delivery_id, number, "failed", elapsed, exc.message, exc.response_code)
            return None
        delay = backoff_delay(number, schedule.retry_base_delay_s, schedule.retry_max_delay_s)
        if exc.retry_after_s is not None:
            delay = max(delay, min(exc.retry_after_s, schedule.retry_max_delay_s))
        _settle(delivery_id, number, "retry", elapsed, exc.message, exc.response_code, delay)
        return delay
    elapsed = int((time.monotonic() - started) * 1000)
    _settle(delivery_id, number, "delivered", elapsed, None, receipt.response_code)
    return None


def _settle(delivery_id: UUID, number: int, outcome: str, elapsed_ms: int, error: str | None,
            code: int | None, delay: float | None = None) -> None:
    next_at = datetime.now(UTC) + timedelta(seconds=delay) if delay is not None else None
    with transaction(get_state().pool) as conn:
        delivery_sql.finish_attempt(conn, delivery_id, number, outcome=outcome, duration_ms=elapsed_ms,
                                    error=error, response_code=code, next_attempt_at=next_at)
        delivery = delivery_sql.get_delivery(conn, delivery_id)
        if delivery is not None and outcome != "retry":
            delivery_sql.finish_run_from_deliveries(conn, delivery.run_id)
