"""Deliver a batch: claim it in one statement (recording the attempts before acting), send, record after.

A batch is up to PUNCTUAL_DELIVERIES_PER_MESSAGE deliveries of one destination kind. HTTP kinds
send together from the task's thread, on one event loop over keep-alive connections (up to
PUNCTUAL_DELIVERY_CONCURRENCY in flight); email sends over one SMTP connection
and SFTP over one session per host. Outcomes are recorded set-based in one transaction, and the
runs of the batch are checked for completion once, after that commit.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from uuid import UUID

import psycopg

from shared.crypto import decrypt_secret
from shared.db import transaction
from shared.errors import ConfigError
from shared.metrics import DELIVERIES, DELIVERY_ATTEMPTS, DELIVERY_RETRIES, DELIVERY_SECONDS
from shared.run_policy import Failure, RetryPolicy, decide_attempt
from shared.sql import deliveries as delivery_sql
from shared.sql import runs as run_sql
from shared.sql import schedules as schedule_sql
from shared.sql.artifacts import get_artifacts
from shared.sql.deliveries import Delivery, Settled
from shared.sql.organizations import get_message_gateways
from shared.sql.subscribers import Subscriber, get_subscribers_unscoped
from shared.statuses import AttemptOutcome
from workers.destinations import get_destination
from workers.destinations.base import (
    Artifact,
    DeliveryContext,
    DeliveryError,
    Destination,
    HttpDestination,
    Post,
    Receipt,
)
from workers.destinations.http_status import post_all
from workers.finishing import finish_settled_runs
from workers.producing import subscriber_info
from workers.state import WorkerState, get_state

logger = logging.getLogger("punctual.workers")
GATEWAY = "gateway"
PERSONAL_KINDS = frozenset({"email", "sftp"})  # destinations that use DeliveryContext.subscriber
NO_GATEWAY = "the organization has no message gateway: set one with PATCH /v1/organization"


@dataclass(frozen=True)
class Prepared:
    """A claimed delivery with what sending it needs, or why it cannot be sent."""
    delivery: Delivery
    context: DeliveryContext | None  # None, as the artifact, exactly when there is a problem
    artifact: Artifact | None
    policy: RetryPolicy
    problem: str | None = None


@dataclass(frozen=True)
class Sent:
    """What one send did."""
    receipt: Receipt | None
    failure: Failure | None
    elapsed_ms: int
    response_code: int | None = None
    disable_reason: str | None = None


def deliver_batch(kind: str, delivery_ids: Sequence[UUID]) -> int:
    """Attempt every due delivery among these once; return how many this worker claimed."""
    state = get_state()
    settings = state.settings
    with transaction(state.pool) as conn:
        claimed = delivery_sql.claim_deliveries(conn, delivery_ids, state.worker_id, settings.worker_dead_after_s)
        if not claimed:
            return 0  # settled, not due yet, or held by a live worker: a duplicate message
        prepared = _prepare(conn, state, claimed)
    sent = _send_all(state, kind, prepared)
    now = datetime.now(UTC)
    outcomes = [_settled(p, s, now) for p, s in zip(prepared, sent, strict=True)]
    disables = {p.delivery.schedule_id: s.disable_reason for p, s in zip(prepared, sent, strict=True)
                if s.disable_reason}
    with transaction(state.pool) as conn:
        delivery_sql.record_outcomes(conn, outcomes)
        schedule_sql.disable_schedules(conn, disables)
    # After our commit: of two batches settling a run's last deliveries at once, the one that
    # commits second sees both settled. Checked once for the batch, not once per delivery.
    settled_runs = {p.delivery.run_id for p, o in zip(prepared, outcomes, strict=True)
                    if o.outcome is not AttemptOutcome.RETRY}
    _count(kind, outcomes)
    if settled_runs:
        with transaction(state.pool) as conn:
            finish_settled_runs(conn, settled_runs, settings.consecutive_failures_to_disable)
    return len(claimed)


def _count(kind: str, outcomes: list[Settled]) -> None:
    # After the commit, so a batch rolled back (and tried again) is not counted twice; one
    # increment per outcome and batch, since every labels() call costs a lookup.
    by_outcome: dict[AttemptOutcome, list[Settled]] = {}
    for o in outcomes:
        by_outcome.setdefault(o.outcome, []).append(o)
    for outcome, settled in by_outcome.items():
        DELIVERY_ATTEMPTS.labels(kind, str(outcome)).inc(len(settled))
        seconds = DELIVERY_SECONDS.labels(kind, str(outcome))
        for o in settled:
            seconds.observe(o.duration_ms / 1000)
        if outcome is AttemptOutcome.RETRY:
            DELIVERY_RETRIES.labels(kind).inc(len(settled))
        else:
            DELIVERIES.labels(kind, str(outcome)).inc(len(settled))


def _prepare(conn: psycopg.Connection, state: WorkerState, claimed: list[Delivery]) -> list[Prepared]:
    # Everything the batch needs, read in the claim's transaction: a handful of statements, not one per delivery.
    runs = {r.id: r for r in run_sql.get_runs_unscoped(conn, sorted({d.run_id for d in claimed}))}
    schedules = schedule_sql.get_schedules_to_deliver(conn, sorted({d.schedule_id for d in claimed}))
    # One Artifact per stored artifact, shared by the batch's deliveries of it: its body is copied once, and a
    # destination can tell a repeat (email encodes a fan-out's attachment once per batch).
    artifacts = {aid: Artifact(row.content_type, row.filename, bytes(row.body), row.sha256)
                 for aid, row in get_artifacts(conn, sorted({d.artifact_id for d in claimed if d.artifact_id})).items()}
    # Only email and SFTP speak to the subscriber (templates, file names): an HTTP batch reads no users.
    users = get_subscribers_unscoped(conn, sorted({d.user_id for d in claimed
                                                   if d.user_id and d.destination_type in PERSONAL_KINDS}))
    secrets = {s.id: _decrypt(state, s.destination_secret) for s in schedules.values()}
    gateways = _gateways(conn, state, claimed)
    prepared = []
    for d in claimed:
        schedule = schedules.get(d.schedule_id)
        secret: dict[str, object] | str = secrets.get(d.schedule_id, {})
        if d.destination_type == GATEWAY and schedule is not None:
            # A phone number's delivery goes to its organization's message gateway as it is now, not as the
            # schedule's destination: one run of a send mixes email and gateway deliveries.
            schedule, secret = _to_gateway(schedule, gateways.get(d.organization_id))
        prepared.append(_prepare_one(d, runs.get(d.run_id), schedule,
                                     artifacts.get(d.artifact_id) if d.artifact_id else None,
                                     users.get(d.user_id) if d.user_id else None, secret))
    return prepared


def _decrypt(state: WorkerState, secret: bytes | None) -> dict[str, object] | str:
    try:
        return decrypt_secret(state.settings.secret_key, secret)
    except ConfigError as exc:
        return exc.detail


def _gateways(conn: psycopg.Connection, state: WorkerState,
              claimed: list[Delivery]) -> dict[UUID, tuple[str, dict[str, object] | str]]:
    orgs = sorted({d.organization_id for d in claimed if d.destination_type == GATEWAY})
    if not orgs:
        return {}
    return {org: (g.url, _decrypt(state, g.secret)) for org, g in get_message_gateways(conn, orgs).items()}


def _to_gateway(schedule: schedule_sql.ScheduleToDeliver, gateway: tuple[str, dict[str, object] | str] | None,
                ) -> tuple[schedule_sql.ScheduleToDeliver, dict[str, object] | str]:
    if gateway is None:
        return schedule, NO_GATEWAY
    url, secret = gateway
    return replace(schedule, destination={"url": url}), secret


def _prepare_one(delivery: Delivery, run: run_sql.Run | None, schedule: schedule_sql.ScheduleToDeliver | None,
                 artifact: Artifact | None, user: Subscriber | None,
                 secret: dict[str, object] | str) -> Prepared:
    policy = RetryPolicy(delivery.max_attempts, schedule.retry_base_delay_s if schedule else 0,
                         schedule.retry_max_delay_s if schedule else 0)
    if delivery.attempts > delivery.max_attempts:
        # Only reachable when the worker holding the last attempt died mid-send.
        return Prepared(delivery, None, None, policy, "attempts exhausted: the worker was lost during the last attempt")
    if run is None or schedule is None or artifact is None:
        return Prepared(delivery, None, None, policy, "schedule, run or artifact no longer exists")
    if isinstance(secret, str):
        return Prepared(delivery, None, None, policy, secret)
    context = DeliveryContext(
        delivery_id=delivery.id, run_id=run.id, schedule_id=schedule.id, schedule_name=schedule.name,
        scheduled_for=run.scheduled_for, attempt=delivery.attempts, destination=dict(schedule.destination),
        secrets=dict(secret), recipients=list(delivery.recipients), idempotency_key=f"punctual-{delivery.id}",
        schedule_timezone=schedule.timezone, subscriber=subscriber_info(user),
    )
    return Prepared(delivery, context, artifact, policy)


def _send_all(state: WorkerState, kind: str, prepared: list[Prepared]) -> list[Sent]:
    destination = get_destination(kind, state.settings, state.http)
    try:
        if isinstance(destination, HttpDestination):
            return _post_all(state, destination, prepared)
        return [_send_one(destination, p) for p in prepared]
    finally:
        destination.close()


def _post_all(state: WorkerState, destination: HttpDestination, prepared: list[Prepared]) -> list[Sent]:
    # Every POST of the batch described, then sent together from this thread (PUNCTUAL_DELIVERY_CONCURRENCY
    # in flight on one event loop), each answer judged as a single send's is.
    sent: list[Sent | None] = []
    posts: list[tuple[int, Post]] = []
    for p in prepared:
        if p.context is None or p.artifact is None:
            sent.append(_unsendable(p))
            continue
        try:
            posts.append((len(sent), destination.posting(p.context, p.artifact)))
            sent.append(None)
        except DeliveryError as exc:
            sent.append(_failed(p, exc, 0))
        except Exception as exc:
            sent.append(_crashed(p, exc, 0))
    try:
        results = post_all(state.http, state.settings, [post for _, post in posts])
    except Exception as exc:
        # Never lost for a bug: every claimed send is recorded, and retried like a transient error.
        results = [(exc, 0.0) for _ in posts]
    for (index, _), (result, seconds) in zip(posts, results, strict=True):
        ms = int(seconds * 1000)
        if isinstance(result, DeliveryError):
            sent[index] = _failed(prepared[index], result, ms)
        elif isinstance(result, Exception):
            sent[index] = _crashed(prepared[index], result, ms)
        else:
            sent[index] = Sent(result, None, ms, result.response_code)
    return [s for s in sent if s is not None]


def _send_one(destination: Destination, prepared: Prepared) -> Sent:
    if prepared.context is None or prepared.artifact is None:
        return _unsendable(prepared)
    started = time.monotonic()
    try:
        receipt = destination.send(prepared.context, prepared.artifact)
    except DeliveryError as exc:
        return _failed(prepared, exc, _ms(started))
    except Exception as exc:
        return _crashed(prepared, exc, _ms(started))
    return Sent(receipt, None, _ms(started), receipt.response_code)


def _unsendable(prepared: Prepared) -> Sent:
    # Prepared without a context or an artifact, for the reason in `problem`: failed for good, nothing sent.
    return Sent(None, Failure(prepared.problem or "nothing to send", permanent=True), 0)


def _failed(prepared: Prepared, exc: DeliveryError, elapsed_ms: int) -> Sent:
    disable = f"{prepared.delivery.destination_type} destination answered 410 Gone" if exc.disable_destination else None
    return Sent(None, Failure(exc.message, exc.permanent, exc.retry_after_s), elapsed_ms, exc.response_code, disable)


def _crashed(prepared: Prepared, exc: Exception, elapsed_ms: int) -> Sent:
    # An unexpected bug in a destination is recorded and retried like a transient error.
    logger.exception("destination %s crashed on delivery %s", prepared.delivery.destination_type, prepared.delivery.id,
                     exc_info=exc)
    return Sent(None, Failure(f"{type(exc).__name__}: {exc}"), elapsed_ms)


def _settled(prepared: Prepared, sent: Sent, now: datetime) -> Settled:
    decision = decide_attempt(prepared.delivery.attempts, prepared.policy, sent.failure, now)
    return Settled(prepared.delivery.id, prepared.delivery.attempts, decision.outcome, sent.elapsed_ms,
                   sent.failure.message if sent.failure else None, sent.response_code, decision.next_attempt_at,
                   sent.receipt.detail if sent.receipt and sent.receipt.detail else None)


def _ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)
