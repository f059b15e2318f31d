"""Deliver one delivery: claim it (record before acting), send, record after, decide on a retry."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from uuid import UUID

from shared.crypto import decrypt_secret
from shared.db import transaction
from shared.errors import ConfigError
from shared.sql import deliveries as delivery_sql
from shared.sql import execution as ex_sql
from shared.sql.artifacts import ArtifactRow, get_artifact
from shared.sql.runs import Run, get_run_unscoped
from shared.sql.schedules import Schedule, get_destination_secret, get_schedule
from workers.destinations import get_destination
from workers.destinations.base import Artifact, DeliveryContext, DeliveryError, Receipt
from workers.producing import subscriber_info
from workers.retry import next_delay
from workers.state import get_state

logger = logging.getLogger("punctual.workers")


@dataclass(frozen=True)
class Outcome:
    outcome: str  # delivered | retry | failed
    elapsed_ms: int
    error: str | None = None
    code: int | None = None
    delay_s: float | None = None
    receipt: Receipt | None = None
    disable_reason: str | None = None


@dataclass(frozen=True)
class Loaded:
    """A claimed delivery and what sending it needs, read in the claiming transaction."""
    delivery: delivery_sql.Delivery
    run: Run | None
    schedule: Schedule | None
    artifact: ArtifactRow | None
    secret: bytes | None
    subscriber: ex_sql.Subscriber | None


def _claim(delivery_id: UUID) -> Loaded | None:
    state = get_state()
    with transaction(state.pool) as conn:
        delivery = delivery_sql.claim_delivery(conn, delivery_id, state.settings.delivery_lease_s)
        if delivery is None:
            return None
        subs = ex_sql.get_subscribers(conn, delivery.organization_id, [delivery.user_id]) if delivery.user_id else []
        return Loaded(
            delivery, get_run_unscoped(conn, delivery.run_id),
            get_schedule(conn, delivery.organization_id, delivery.schedule_id),
            get_artifact(conn, delivery.artifact_id) if delivery.artifact_id else None,
            get_destination_secret(conn, delivery.organization_id, delivery.schedule_id), subs[0] if subs else None,
        )


def deliver_one(delivery_id: UUID) -> str | None:
    """Attempt a due delivery once; return its outcome, or None when it was not ours to send."""
    loaded = _claim(delivery_id)
    if loaded is None:
        return None  # settled, not due yet, or another worker holds it: a duplicate message
    delivery, run, schedule, artifact = loaded.delivery, loaded.run, loaded.schedule, loaded.artifact
    if delivery.attempts > delivery.max_attempts:
        # Only reachable when the worker holding the last attempt died mid-send (lease expired).
        outcome = Outcome("failed", 0, "attempts exhausted: the worker was lost during the last attempt")
    elif run is None or schedule is None or artifact is None:
        outcome = Outcome("failed", 0, "schedule, run or artifact no longer exists")
    else:
        try:
            secrets = decrypt_secret(get_state().settings.secret_key, loaded.secret)
        except ConfigError as exc:
            outcome = Outcome("failed", 0, exc.detail)
        else:
            context = DeliveryContext(
                delivery_id=delivery.id, run_id=run.id, schedule_id=schedule.id, schedule_name=schedule.name,
                scheduled_for=run.scheduled_for, attempt=delivery.attempts, destination=dict(schedule.destination),
                secrets=secrets, recipients=list(delivery.recipients), idempotency_key=f"punctual-{delivery.id}",
                schedule_timezone=schedule.timezone, subscriber=subscriber_info(loaded.subscriber),
            )
            body = Artifact(artifact.content_type, artifact.filename, bytes(artifact.body), artifact.sha256)
            outcome = _attempt(schedule, context, body, delivery.attempts, delivery.max_attempts)
    _settle(delivery, delivery.attempts, outcome)
    return outcome.outcome


def _attempt(schedule: Schedule, context: DeliveryContext, artifact: Artifact, number: int,
             max_attempts: int) -> Outcome:
    settings = get_state().settings
    started = time.monotonic()
    try:
        receipt = get_destination(schedule.destination_type, settings).send(context, artifact)
    except DeliveryError as exc:
        elapsed = int((time.monotonic() - started) * 1000)
        disable = f"{schedule.destination_type} destination answered 410 Gone" if exc.disable_destination else None
        if exc.permanent or number >= max_attempts:
            return Outcome("failed", elapsed, exc.message, exc.response_code, disable_reason=disable)
        delay = next_delay(number, schedule.retry_base_delay_s, schedule.retry_max_delay_s, exc.retry_after_s)
        return Outcome("retry", elapsed, exc.message, exc.response_code, delay_s=delay)
    except Exception as exc:
        # An unexpected bug in a destination is recorded and retried like a transient error.
        logger.exception("destination %s crashed on delivery %s", schedule.destination_type, context.delivery_id)
        elapsed = int((time.monotonic() - started) * 1000)
        if number >= max_attempts:
            return Outcome("failed", elapsed, f"{type(exc).__name__}: {exc}")
        delay = next_delay(number, schedule.retry_base_delay_s, schedule.retry_max_delay_s, None)
        return Outcome("retry", elapsed, f"{type(exc).__name__}: {exc}", delay_s=delay)
    return Outcome("delivered", int((time.monotonic() - started) * 1000), None, receipt.response_code,
                   receipt=receipt)


def _settle(delivery: delivery_sql.Delivery, number: int, outcome: Outcome) -> None:
    state = get_state()
    next_at = datetime.now(UTC) + timedelta(seconds=outcome.delay_s) if outcome.delay_s is not None else None
    with transaction(state.pool) as conn:
        delivery_sql.finish_attempt(
            conn, delivery.id, number, outcome=outcome.outcome, duration_ms=outcome.elapsed_ms,
            error=outcome.error[:2000] if outcome.error else None, response_code=outcome.code,
            next_attempt_at=next_at, receipt=outcome.receipt.detail if outcome.receipt else None)
        if outcome.disable_reason:
            ex_sql.disable_schedule(conn, delivery.schedule_id, outcome.disable_reason)
    if outcome.outcome == "retry":
        return
    # Checked after our commit: of two last deliveries settling at once, the one committing
    # second sees both settled. Only then is the run row locked and the run counted, so 10,000
    # deliveries do not queue on one lock nor count the run 10,000 times.
    with transaction(state.pool) as conn:
        if not delivery_sql.has_open_deliveries(conn, delivery.run_id):
            ex_sql.finish_run_from_deliveries(conn, delivery.run_id, state.settings.consecutive_failures_to_disable)
