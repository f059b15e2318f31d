"""Execute runs: claim them, then carry each out by its run mode, one function per mode.

- once to a destination (a webhook, Slack channel or SFTP server: one artifact, one delivery),
  written for a whole batch of runs in one transaction;
- once by email (one artifact, one message per recipient or per group of recipients);
- per subscriber (the command run for each subscriber, in chunks that other workers take).

Deliveries are published after the commit that made them, in batches per destination kind.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import Enum
from uuid import UUID

import psycopg
from celery.exceptions import SoftTimeLimitExceeded

from shared.db import transaction
from shared.quotas import QUOTA_WINDOW, deliveries_quota, deliveries_refusal
from shared.sql import deliveries as delivery_sql
from shared.sql import run_chunks as chunk_sql
from shared.sql import runs as run_sql
from shared.sql import sends as send_sql
from shared.sql import subscribers as subscriber_sql
from shared.sql.artifacts import NewArtifact, insert_artifacts
from shared.sql.deliveries import NewDelivery
from shared.sql.quotas import count_deliveries_since
from shared.sql.runs import Closing, Run
from shared.sql.subscribers import Subscriber
from shared.statuses import DeliveryStatus, RunStatus
from workers.commands.base import CommandError
from workers.finishing import close_runs, finish_settled_runs
from workers.producing import Plan, Produced, held_back, load_plans, produce
from workers.publishing import publish_chunks, publish_deliveries, publish_runs
from workers.state import WorkerState, get_state

logger = logging.getLogger("punctual.workers")

SUBSCRIBER_PAGE = 1000   # subscribers read per statement (and deliveries inserted per transaction)
EMAIL_GROUP_SIZE = 50    # recipients of one message when email fan_out is off
FLUSH_AFTER_S = 0.5      # a batch writes the runs it produced at least this often
HAND_OFF_AFTER_S = 1.0   # a batch still busy after this starts no more runs: it hands the rest to other workers
NO_RECIPIENTS = "no recipients: add subscribers or email addresses to the schedule"
ABANDONED = ("abandoned: {n} workers died while producing it (a command past the task time limit, a crash or "
             "running out of memory); not tried again")


class RunMode(Enum):
    ONCE_TO_DESTINATION = "once to a destination"
    ONCE_BY_EMAIL = "once by email"
    PER_SUBSCRIBER = "per subscriber"
    TO_EACH_CHANNEL = "once, to each recipient's channel"


def run_mode(plan: Plan, has_subscribers: bool) -> RunMode:
    """How a run is carried out, from its schedule (pure)."""
    if plan.schedule.send_target is not None:
        # A send names its recipients (users, a contact list, addresses): each gets the one content by email,
        # or through the organization's message gateway for a phone number.
        return RunMode.TO_EACH_CHANNEL
    if plan.schedule.destination_type == "email":
        return RunMode.PER_SUBSCRIBER if plan.schedule.run_mode == "per_subscriber" else RunMode.ONCE_BY_EMAIL
    # A webhook, Slack channel or SFTP server is one recipient; per_subscriber to it runs the
    # command once per subscriber, and with no subscribers, once for the destination itself.
    if plan.schedule.run_mode == "per_subscriber" and has_subscribers:
        return RunMode.PER_SUBSCRIBER
    return RunMode.ONCE_TO_DESTINATION


@dataclass
class HandOff:
    """When a batch stops starting runs, and the runs it left for other workers.

    A burst of quick runs goes through in large batches (one claim, one write, one delivery
    message for many runs), while a batch of slow commands spreads over every idle worker: once
    it has run for HAND_OFF_AFTER_S, the runs it has not begun are handed back and published in
    messages sized by how many it got through.
    """
    at: float                # time.monotonic() past which no run is begun here
    keep: frozenset[UUID]    # runs taken over from a dead worker: carried out here (their deliveries may exist)
    left: list[Plan] = field(default_factory=list)

    def defer(self, plan: Plan) -> bool:
        """True (and the run is left) if it is too late to begin this run here."""
        if plan.run.id in self.keep or time.monotonic() < self.at:
            return False
        self.left.append(plan)
        return True


def execute_runs(run_ids: Sequence[UUID]) -> int:
    """Claim runs in one statement and carry each out by its mode; return how many were claimed."""
    state = get_state()
    settings = state.settings
    with transaction(state.pool) as conn:
        runs, retaken, killed = run_sql.claim_runs(conn, run_ids, state.worker_id, settings.worker_dead_after_s)
        # Plans are read in the claim's transaction: one round of reads for the batch.
        plans = load_plans(conn, runs, settings)
        gone = [Closing(r.id, RunStatus.FAILED, error="schedule or command deleted") for r in runs
                if plans[r.id] is None]
        gone += [Closing(run_id, RunStatus.FAILED, error=ABANDONED.format(n=run_sql.MAX_CLAIMS))
                 for run_id in killed if plans.get(run_id) is not None]
        for closing in gone:
            plans[closing.run_id] = None
        modes = {run_id: run_mode(plan, _has_subscribers(conn, plan)) for run_id, plan in plans.items() if plan}
        refused = _over_delivery_quota(conn, state, [p for p in plans.values() if p is not None], modes)
        close_runs(conn, [*gone, *refused], settings.consecutive_failures_to_disable)
        for closing in refused:
            plans[closing.run_id] = None
    todo = [p for p in plans.values() if p is not None]
    hand_off = HandOff(time.monotonic() + HAND_OFF_AFTER_S, frozenset(retaken))
    try:
        _carry_out(state, todo, modes, hand_off)
        if hand_off.left:
            _hand_off(state, hand_off.left, begun=len(todo) - len(hand_off.left))
        if retaken:
            _republish_pending(state, sorted(retaken))
    except Exception:
        # Hand the unfinished runs back, so a retry (or another worker) can claim them at once.
        _release(state, [r.id for r in runs])
        raise
    return len(runs)


def _over_delivery_quota(conn: psycopg.Connection, state: WorkerState, plans: list[Plan],
                         modes: dict[UUID, RunMode]) -> list[Closing]:
    """Runs that would take their organization past its deliveries-per-hour quota: they fail, naming it."""
    quota = deliveries_quota(state.settings)
    if not quota.limit:
        return []
    refused: list[Closing] = []
    by_org: dict[UUID, list[Plan]] = {}
    for plan in plans:
        by_org.setdefault(plan.run.organization_id, []).append(plan)
    since = datetime.now(UTC) - QUOTA_WINDOW
    for org, org_plans in by_org.items():
        # Checked once per organization and batch, before anything fans out; concurrent batches
        # of one organization may pass the quota by at most their own size.
        recent = count_deliveries_since(conn, org, since)
        for plan in org_plans:
            adding = _expected_deliveries(conn, plan, modes[plan.run.id])
            reason = deliveries_refusal(quota, recent, adding)
            if reason is None:
                recent += adding
            else:
                refused.append(Closing(plan.run.id, RunStatus.FAILED, error=reason))
    return refused


def _expected_deliveries(conn: psycopg.Connection, plan: Plan, mode: RunMode) -> int:
    if mode is RunMode.ONCE_TO_DESTINATION:
        return 1
    if mode is RunMode.TO_EACH_CHANNEL:
        return send_sql.count_send_recipients(conn, plan.run.organization_id, plan.schedule.id)
    count = subscriber_sql.count_subscribers(conn, plan.run.organization_id, plan.schedule.id)
    if mode is RunMode.ONCE_BY_EMAIL and not plan.schedule.fan_out:
        return -(-count // EMAIL_GROUP_SIZE)
    return count


def _has_subscribers(conn: psycopg.Connection, plan: Plan) -> bool:
    if plan.schedule.run_mode != "per_subscriber" or plan.schedule.destination_type == "email":
        return False
    return subscriber_sql.has_subscribers(conn, plan.run.organization_id, plan.schedule.id)


def _carry_out(state: WorkerState, plans: list[Plan], modes: dict[UUID, RunMode], hand_off: HandOff) -> None:
    # Runs to a single destination first: they are quick, and nothing is written before producing them.
    run_once_to_destination(state, [p for p in plans if modes[p.run.id] is RunMode.ONCE_TO_DESTINATION], hand_off)
    for plan in plans:
        if modes[plan.run.id] is RunMode.ONCE_TO_DESTINATION or hand_off.defer(plan):
            continue
        if modes[plan.run.id] is RunMode.ONCE_BY_EMAIL:
            run_once_by_email(state, plan)
        elif modes[plan.run.id] is RunMode.PER_SUBSCRIBER:
            run_per_subscriber(state, plan)
        elif modes[plan.run.id] is RunMode.TO_EACH_CHANNEL:
            run_to_each_channel(state, plan)


def _hand_off(state: WorkerState, plans: list[Plan], begun: int) -> None:
    # Handed back unstarted (published, the claim not counted), then published in messages of as many
    # runs as this batch began in HAND_OFF_AFTER_S: idle workers take them at once. A publish that fails
    # leaves them published with no message, for beat's relay to publish again (PUNCTUAL_BEAT_REPUBLISH_AFTER).
    run_ids = [p.run.id for p in plans]
    with transaction(state.pool) as conn:
        run_sql.release_runs(conn, run_ids, state.worker_id)
    logger.info("a batch ran past %.1f s: %d runs handed to other workers", HAND_OFF_AFTER_S, len(run_ids))
    publish_runs(run_ids, max(1, begun))


def _republish_pending(state: WorkerState, run_ids: list[UUID]) -> None:
    # A run taken over from a dead worker may have deliveries that worker inserted but never
    # published; their keys made this execution insert nothing new for them.
    with transaction(state.pool) as conn:
        items = [item for run_id in run_ids for item in delivery_sql.pending_ids(conn, run_id)]
    publish_deliveries(items, state.settings.deliveries_per_message)


def _release(state: WorkerState, run_ids: list[UUID]) -> None:
    try:
        with transaction(state.pool) as conn:
            run_sql.release_runs(conn, run_ids, state.worker_id)
    except Exception:
        # Claimed by this live worker, they would wait for ever: under a new id, the old one's claims are
        # taken up like a dead worker's once its heartbeat is PUNCTUAL_WORKER_DEAD_AFTER old.
        logger.exception("could not hand back runs %s; leaving them to be taken up", run_ids)
        state.abandon_claims()


# --- once to a destination ----------------------------------------------------------------------

def run_once_to_destination(state: WorkerState, plans: list[Plan], hand_off: HandOff) -> None:
    """Produce each run's content once and write artifact, delivery and 'expanded' for the batch together.

    The runs produced within FLUSH_AFTER_S share one transaction and one broker connection; a slow
    command flushes what was produced before it, so a fast run never waits on a slow neighbour.
    Runs not begun by the hand-off time are left to other workers.
    """
    pending: list[tuple[Plan, Produced | str]] = []
    since = time.monotonic()
    for plan in plans:
        if hand_off.defer(plan):
            continue
        pending.append((plan, _produce_or_error(plan, None, state)))
        if time.monotonic() - since >= FLUSH_AFTER_S:
            _write_once_to_destination(state, pending)
            pending, since = [], time.monotonic()
    _write_once_to_destination(state, pending)


def _write_once_to_destination(state: WorkerState, produced: list[tuple[Plan, Produced | str]]) -> None:
    if not produced:
        return
    settings = state.settings
    with transaction(state.pool) as conn:
        to_send = [(plan, result) for plan, result in produced if _settle_content(conn, state, plan, result)]
        ids = insert_artifacts(conn, [_artifact(plan, result, None) for plan, result in to_send])  # type: ignore[arg-type]
        items = [(_target(plan), NewDelivery("destination", None, artifact_id))
                 for (plan, _), artifact_id in zip(to_send, ids, strict=True)]
        new = delivery_sql.insert_many(conn, items, settings.republish_after_s)
        run_ids = [plan.run.id for plan, _ in to_send]
        run_sql.mark_expanded(conn, run_ids)
        # A re-executed run whose delivery exists already may have settled: it may finish now.
        fresh = {run_id for run_id, _, _ in new}
        finish_settled_runs(conn, [r for r in run_ids if r not in fresh], settings.consecutive_failures_to_disable)
    publish_deliveries([(kind, delivery_id) for _, kind, delivery_id in new], settings.deliveries_per_message)


# --- once by email ------------------------------------------------------------------------------

def run_once_by_email(state: WorkerState, plan: Plan) -> None:
    """Produce once, then one message per recipient (fan_out) or per group of recipients."""
    produced = _produce_or_error(plan, None, state)
    with transaction(state.pool) as conn:
        if not _settle_content(conn, state, plan, produced):
            return
        assert not isinstance(produced, str)
        artifact_id = insert_artifacts(conn, [_artifact(plan, produced, None)])[0]
    inserted = 0
    for page in _subscriber_pages(state, plan):
        items = [(_target(plan), item) for item in _email_items(plan, page, artifact_id)]
        with transaction(state.pool) as conn:
            new = delivery_sql.insert_many(conn, items, state.settings.republish_after_s)
        publish_deliveries([(kind, i) for _, kind, i in new], state.settings.deliveries_per_message)
        inserted += len(page)
    _expand(state, plan, empty=inserted == 0)


def _email_items(plan: Plan, page: list[Subscriber], artifact_id: UUID) -> list[NewDelivery]:
    if plan.schedule.fan_out:
        return [NewDelivery(str(s.id), s.id, artifact_id, [s.email]) for s in page]
    groups = [page[i:i + EMAIL_GROUP_SIZE] for i in range(0, len(page), EMAIL_GROUP_SIZE)]
    # Keyed by the group's first subscriber, so a re-executed run finds the same keys.
    return [NewDelivery(f"group:{g[0].id}", None, artifact_id, [s.email for s in g]) for g in groups]


def _expand(state: WorkerState, plan: Plan, *, empty: bool) -> None:
    # Every delivery exists: the run may finish when they settle (now, if they already have).
    disable_after = state.settings.consecutive_failures_to_disable
    with transaction(state.pool) as conn:
        if empty:
            close_runs(conn, [Closing(plan.run.id, RunStatus.SKIPPED, error=NO_RECIPIENTS)], disable_after)
            return
        run_sql.mark_expanded(conn, [plan.run.id])
        finish_settled_runs(conn, [plan.run.id], disable_after)


# --- once, to each recipient's channel (sends) -----------------------------------------------------

def run_to_each_channel(state: WorkerState, plan: Plan) -> None:
    """Produce the send's content once, then one delivery per recipient, resolved now (a contact list's members
    as they are at the slot): by email to an address, through the message gateway to a phone number."""
    produced = _produce_or_error(plan, None, state)
    with transaction(state.pool) as conn:
        if not _settle_content(conn, state, plan, produced):
            return
        assert not isinstance(produced, str)
        artifact_id = insert_artifacts(conn, [_artifact(plan, produced, None)])[0]
    inserted, after = 0, None
    while True:
        with transaction(state.pool) as conn:
            page = send_sql.list_send_recipients(conn, plan.run.organization_id, plan.schedule.id, after=after,
                                                 limit=SUBSCRIBER_PAGE)
            items = [(_target(plan, r.channel), NewDelivery(r.key, r.user_id, artifact_id, [r.address]))
                     for r in page]
            new = delivery_sql.insert_many(conn, items, state.settings.republish_after_s)
        if not page:
            break
        publish_deliveries([(kind, i) for _, kind, i in new], state.settings.deliveries_per_message)
        inserted += len(page)
        after = page[-1].key
    _expand(state, plan, empty=inserted == 0)


# --- per subscriber -----------------------------------------------------------------------------

def run_per_subscriber(state: WorkerState, plan: Plan) -> None:
    """Split the subscribers into chunks for any worker to produce; a run nobody subscribes to is skipped."""
    size = state.settings.subscribers_per_chunk
    numbers: list[int] = []
    with transaction(state.pool) as conn:
        after: UUID | None = None
        while True:
            page = subscriber_sql.list_subscribers_page(conn, plan.run.organization_id, plan.schedule.id,
                                                        after=after, limit=SUBSCRIBER_PAGE)
            if not page:
                break
            ids = [s.id for s in page]
            chunks = [ids[i:i + size] for i in range(0, len(ids), size)]
            numbers += chunk_sql.insert_chunks(conn, plan.run.organization_id, plan.run.id, len(numbers), chunks,
                                               state.settings.republish_after_s)
            after = page[-1].id
        if not numbers:
            close_runs(conn, [Closing(plan.run.id, RunStatus.SKIPPED, error=NO_RECIPIENTS)],
                       state.settings.consecutive_failures_to_disable)
            return
        run_sql.mark_planned(conn, plan.run.id, len(numbers))
    publish_chunks(plan.run.id, numbers)


def produce_chunk(run_id: UUID, chunk_no: int) -> None:
    """Produce one chunk of a per_subscriber run and insert its deliveries; the last chunk expands the run."""
    state = get_state()
    settings = state.settings
    with transaction(state.pool) as conn:
        claimed = chunk_sql.claim_chunk(conn, run_id, chunk_no, state.worker_id, settings.worker_dead_after_s)
        runs = run_sql.get_runs_unscoped(conn, [run_id]) if claimed is not None else []
        run: Run | None = runs[0] if runs and runs[0].status == RunStatus.RUNNING else None
        plan = load_plans(conn, [run], settings)[run_id] if run is not None else None
        subscribers = (subscriber_sql.get_subscribers(conn, run.organization_id, claimed.user_ids)
                       if plan and run and claimed else [])
    if plan is None or claimed is None:
        return  # done already (a redelivered message), held by a live worker, or its run or schedule is gone
    if claimed.claims > chunk_sql.MAX_CLAIMS:
        produced: list[tuple[Subscriber, Produced | str]] = [
            (sub, ABANDONED.format(n=chunk_sql.MAX_CLAIMS)) for sub in subscribers]
    else:
        produced = [(sub, _produce_or_error(plan, sub, state)) for sub in subscribers]
    with transaction(state.pool) as conn:
        items = _subscriber_items(conn, plan, produced)
        new = delivery_sql.insert_many(conn, [(_target(plan), item) for item in items], settings.republish_after_s)
        if chunk_sql.finish_chunk(conn, run_id, chunk_no) == 0:
            run_sql.mark_expanded(conn, [run_id])
            finish_settled_runs(conn, [run_id], settings.consecutive_failures_to_disable)
    publish_deliveries([(kind, i) for _, kind, i in new], settings.deliveries_per_message)


def _subscriber_items(conn: psycopg.Connection, plan: Plan,
                      produced: list[tuple[Subscriber, Produced | str]]) -> list[NewDelivery]:
    # Artifacts of the chunk in one statement; a failed command or a held-back content is a
    # delivery recorded settled, so the ledger says why that subscriber got nothing.
    made = [(sub, result) for sub, result in produced if not isinstance(result, str)]
    ids = dict(zip([s.id for s, _ in made],
                   insert_artifacts(conn, [_artifact(plan, r, s.id) for s, r in made]), strict=True))  # type: ignore[arg-type]
    items = []
    for sub, result in produced:
        recipients = [sub.email] if plan.schedule.destination_type == "email" else []
        if isinstance(result, str):
            items.append(NewDelivery(str(sub.id), sub.id, None, recipients, DeliveryStatus.FAILED, result))
            continue
        reason = held_back(conn, plan, result, sub.id)
        status = DeliveryStatus.CANCELLED if reason else DeliveryStatus.PENDING
        items.append(NewDelivery(str(sub.id), sub.id, ids[sub.id], recipients, status, reason))
    return items


# --- shared steps -------------------------------------------------------------------------------

def _produce_or_error(plan: Plan, sub: Subscriber | None, state: WorkerState) -> Produced | str:
    try:
        return produce(plan, sub, state.settings)
    except CommandError as exc:
        return str(exc)
    except SoftTimeLimitExceeded:
        # The whole task ran out of time (PUNCTUAL_TASK_TIME_LIMIT): this run fails with the reason.
        return f"the task ran past PUNCTUAL_TASK_TIME_LIMIT ({state.settings.task_time_limit_s:g} s)"
    except Exception as exc:
        # A third-party command that crashes must fail its run, not leave it running forever.
        logger.exception("command %s crashed for run %s", plan.command.kind if plan.command else None, plan.run.id)
        return f"command crashed: {type(exc).__name__}: {exc}"


def _settle_content(conn: psycopg.Connection, state: WorkerState, plan: Plan, produced: Produced | str) -> bool:
    """Close the run if its command failed or the alert condition holds the content back; True to deliver."""
    disable_after = state.settings.consecutive_failures_to_disable
    if isinstance(produced, str):
        close_runs(conn, [Closing(plan.run.id, RunStatus.FAILED, error=produced)], disable_after)
        return False
    reason = held_back(conn, plan, produced, None)
    if reason is not None:
        close_runs(conn, [Closing(plan.run.id, RunStatus.SKIPPED, error=reason)], disable_after)
        return False
    return True


def _artifact(plan: Plan, produced: Produced, user_id: UUID | None) -> NewArtifact:
    return NewArtifact(plan.run.organization_id, plan.run.id, user_id, produced.rendered.content_type,
                       produced.filename, produced.rendered.body, produced.sha256, produced.rendered.row_count)


def _target(plan: Plan, destination_type: str | None = None) -> delivery_sql.Target:
    return delivery_sql.Target(plan.run.organization_id, plan.run.id, plan.schedule.id,
                               destination_type or plan.schedule.destination_type, plan.schedule.retry_max_attempts)


def _subscriber_pages(state: WorkerState, plan: Plan) -> Iterator[list[Subscriber]]:
    # Keyset pages, each read in its own short transaction: memory stays bounded by the page.
    after: UUID | None = None
    while True:
        with transaction(state.pool) as conn:
            page = subscriber_sql.list_subscribers_page(conn, plan.run.organization_id, plan.schedule.id,
                                                        after=after, limit=SUBSCRIBER_PAGE)
        if not page:
            return
        yield page
        after = page[-1].id
