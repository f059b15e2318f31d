"""Execute a run: produce content once (or per subscriber, in chunks) and insert its deliveries."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from uuid import UUID

import psycopg

from shared.db import transaction
from shared.sql import deliveries as delivery_sql
from shared.sql import execution as ex_sql
from shared.sql import runs as run_sql
from shared.sql.artifacts import insert_artifact
from shared.sql.runs import Run
from workers.commands.base import CommandError
from workers.producing import Plan, Produced, held_back, load_plan, produce
from workers.state import WorkerState, get_state

logger = logging.getLogger("punctual.workers")

PAGE_SIZE = 1000        # subscribers read (and deliveries inserted and published) per transaction
CHUNK_SIZE = 25         # subscribers per per_subscriber task: small enough to spread, big enough to amortise
EMAIL_GROUP_SIZE = 50   # recipients of one message when email fan_out is off
FLUSH_AFTER_S = 0.5     # a batch writes the runs it produced at least this often

PublishDeliveries = Callable[[list[tuple[str, UUID]]], None]
PublishChunks = Callable[[UUID, list[int]], None]


def execute_run(run_id: UUID, publish: PublishDeliveries, publish_chunks: PublishChunks) -> None:
    """Claim a run; per_subscriber plans chunks for other workers, once_distribute produces and fans out."""
    state = get_state()
    with transaction(state.pool) as conn:
        run = run_sql.claim_run(conn, run_id, state.settings.delivery_lease_s)
        if run is None:
            return  # started already: a redelivered or republished message
        step = _prepare(conn, state, run, load_plan(conn, run, state.settings))
    _carry_on(state, step, publish, publish_chunks)


def execute_runs(run_ids: list[UUID], publish: PublishDeliveries, publish_chunks: PublishChunks) -> int:
    """Claim many runs in one statement, then execute each as execute_run does; return how many were claimed.

    A run that raises is logged and left running: the sweep takes it up again after the lease,
    as it does a run whose worker died. The other runs of the batch go on.
    """
    state = get_state()
    with transaction(state.pool) as conn:
        runs = run_sql.claim_runs(conn, run_ids, state.settings.delivery_lease_s)
        # Plans are read in the claim's transaction too: one round of reads, not one transaction per run.
        plans = [(run, load_plan(conn, run, state.settings)) for run in runs]
    # Runs to a single destination first: they are quick, and nothing is written before producing them.
    try:
        _distribute_to_destinations(state, [p for _, p in plans if p is not None and _to_destination_once(p)],
                                    publish)
    except Exception:
        # Whatever was committed stays; a run not written is left running for the sweep, as below.
        logger.exception("runs of batch could not all be written; the sweep takes them up after the lease")
    for run, plan in plans:
        if plan is not None and _to_destination_once(plan):
            continue
        try:
            with transaction(state.pool) as conn:
                step = _prepare(conn, state, run, plan)
            _carry_on(state, step, publish, publish_chunks)
        except Exception:
            logger.exception("run %s failed to execute; the sweep takes it up again after the lease", run.id)
    return len(runs)


def _to_destination_once(plan: Plan) -> bool:
    # once_distribute to a webhook, Slack channel or SFTP server: one artifact, one delivery.
    return plan.schedule.run_mode != "per_subscriber" and plan.schedule.destination_type != "email"


@dataclass(frozen=True)
class _Step:
    """What a claimed run does once its claim committed."""
    run_id: UUID
    plan: Plan | None         # None: closed already (its schedule or command is gone)
    chunks: list[int] | None  # per_subscriber chunks for other workers; None: produce once and distribute


def _prepare(conn: psycopg.Connection, state: WorkerState, run: Run, plan: Plan | None) -> _Step:
    # In the claim's transaction (or, for a batch, the run's own): close or plan the run.
    if plan is None:
        _fail(conn, state, run.id, "schedule or command deleted")
        return _Step(run.id, None, None)
    spread = plan.schedule.run_mode == "per_subscriber" and (
        plan.schedule.destination_type == "email"
        or ex_sql.has_subscribers(conn, run.organization_id, run.schedule_id))
    return _Step(run.id, plan, _plan_chunks(conn, state, plan) if spread else None)


def _carry_on(state: WorkerState, step: _Step, publish: PublishDeliveries, publish_chunks: PublishChunks) -> None:
    # After the commit: hand chunks to other workers, or produce and fan out here.
    if step.plan is None:
        return
    if step.chunks is not None:
        if step.chunks:
            publish_chunks(step.run_id, step.chunks)
        else:
            _finish(state, step.run_id)  # nobody subscribed: nothing to send
        return
    _distribute_once(state, step.plan, publish)


def _fail(conn: psycopg.Connection, state: WorkerState, run_id: UUID, error: str) -> None:
    ex_sql.finish_run(conn, run_id, "failed", error=error[:2000],
                      disable_after=state.settings.consecutive_failures_to_disable)


def _finish(state: WorkerState, run_id: UUID) -> None:
    with transaction(state.pool) as conn:
        ex_sql.mark_run_expanded(conn, run_id)
        ex_sql.finish_run_from_deliveries(conn, run_id, state.settings.consecutive_failures_to_disable)


def _subscriber_pages(state: WorkerState, plan: Plan) -> Iterator[list[ex_sql.Subscriber]]:
    # Keyset pages, each read in its own short transaction: memory stays bounded by PAGE_SIZE.
    after: UUID | None = None
    while True:
        with transaction(state.pool) as conn:
            page = ex_sql.list_subscribers_page(conn, plan.run.organization_id, plan.schedule.id,
                                                after=after, limit=PAGE_SIZE)
        if not page:
            return
        yield page
        after = page[-1].id


def _plan_chunks(conn: psycopg.Connection, state: WorkerState, plan: Plan) -> list[int]:
    numbers: list[int] = []
    after: UUID | None = None
    while True:
        page = ex_sql.list_subscribers_page(conn, plan.run.organization_id, plan.schedule.id,
                                            after=after, limit=PAGE_SIZE)
        if not page:
            break
        ids = [s.id for s in page]
        chunks = [ids[i:i + CHUNK_SIZE] for i in range(0, len(ids), CHUNK_SIZE)]
        numbers += ex_sql.insert_chunks(conn, plan.run.organization_id, plan.run.id, len(numbers), chunks,
                                        state.settings.delivery_lease_s)
        after = page[-1].id
    ex_sql.mark_run_planned(conn, plan.run.id, len(numbers))
    return numbers


def _produce_or_error(plan: Plan, sub: ex_sql.Subscriber | None, state: WorkerState) -> Produced | str:
    try:
        return produce(plan, sub, state.settings)
    except CommandError as exc:
        return str(exc)
    except Exception as exc:
        # A third-party command that crashes must fail its run, not leave it running forever.
        logger.exception("command %s crashed for run %s", plan.command.kind if plan.command else None, plan.run.id)
        return f"command crashed: {type(exc).__name__}: {exc}"


def _distribute_once(state: WorkerState, plan: Plan, publish: PublishDeliveries) -> None:
    if plan.schedule.destination_type != "email":
        _distribute_to_destinations(state, [plan], publish)
        return
    run = plan.run
    produced = _produce_or_error(plan, None, state)
    with transaction(state.pool) as conn:
        artifact_id = _settle_produced(conn, state, plan, produced)
    if artifact_id is None:
        return
    for page in _subscriber_pages(state, plan):
        _insert_and_publish(state, plan, _email_items(plan, page, artifact_id), publish)
    _finish(state, run.id)


def _settle_produced(conn: psycopg.Connection, state: WorkerState, plan: Plan, produced: Produced | str) -> UUID | None:
    # Fail, skip (alert condition) or store the content once; the artifact id when it is to be delivered.
    if isinstance(produced, str):
        _fail(conn, state, plan.run.id, produced)
        return None
    reason = held_back(conn, plan, produced, None)
    if reason is not None:
        ex_sql.finish_run(conn, plan.run.id, "skipped", error=reason,
                          disable_after=state.settings.consecutive_failures_to_disable)
        return None
    return _store(conn, plan, produced, None)


def _distribute_to_destinations(state: WorkerState, plans: list[Plan], publish: PublishDeliveries) -> None:
    """Produce once_distribute runs whose recipient is the destination itself, and write them together.

    A webhook, Slack channel or SFTP server is one recipient, so such a run is one artifact and one
    delivery: the runs produced within FLUSH_AFTER_S share one transaction (a savepoint each, so one
    run's error rolls back that run alone) and one broker connection.
    """
    pending: list[tuple[Plan, Produced | str]] = []
    since = time.monotonic()
    for plan in plans:
        pending.append((plan, _produce_or_error(plan, None, state)))
        # Slow commands flush one by one: a fast run's deliveries never wait on a slow neighbour's.
        if time.monotonic() - since >= FLUSH_AFTER_S:
            _write_and_publish(state, pending, publish)
            pending, since = [], time.monotonic()
    _write_and_publish(state, pending, publish)


def _write_and_publish(state: WorkerState, produced: list[tuple[Plan, Produced | str]],
                       publish: PublishDeliveries) -> None:
    items: list[tuple[str, UUID]] = []
    if not produced:
        return
    with transaction(state.pool) as conn:
        for plan, result in produced:
            try:
                with conn.transaction():
                    items += [(plan.schedule.destination_type, i) for i in _write_once(conn, state, plan, result)]
            except Exception:
                # Left running and unexpanded: the sweep takes the run up again after the lease.
                logger.exception("run %s could not be written; the sweep takes it up again after the lease",
                                 plan.run.id)
    # Published after commit: a worker that reads the id finds the row. If we die before this,
    # the sweep republishes the rows once their publish_after passes.
    publish(items)


def _write_once(conn: psycopg.Connection, state: WorkerState, plan: Plan, produced: Produced | str) -> list[UUID]:
    # The artifact, the destination's delivery and "expanded" in one transaction: no state in between.
    artifact_id = _settle_produced(conn, state, plan, produced)
    if artifact_id is None:
        return []
    ids = delivery_sql.insert_deliveries(
        conn, plan.run.organization_id, plan.run.id, plan.schedule.id, plan.schedule.destination_type,
        plan.schedule.retry_max_attempts, [delivery_sql.NewDelivery("destination", None, artifact_id)],
        state.settings.delivery_lease_s)
    ex_sql.mark_run_expanded(conn, plan.run.id)
    if not ids:
        # A re-executed run whose delivery exists already: it may have settled, so the run may finish.
        # A delivery just inserted is pending, so the run cannot finish yet: no need to look.
        ex_sql.finish_run_from_deliveries(conn, plan.run.id, state.settings.consecutive_failures_to_disable)
    return ids


def _email_items(plan: Plan, page: list[ex_sql.Subscriber], artifact_id: UUID) -> list[delivery_sql.NewDelivery]:
    if plan.schedule.fan_out:
        return [delivery_sql.NewDelivery(str(s.id), s.id, artifact_id, [s.email]) for s in page]
    groups = [page[i:i + EMAIL_GROUP_SIZE] for i in range(0, len(page), EMAIL_GROUP_SIZE)]
    # Keyed by the group's first subscriber, so a re-executed run finds the same keys.
    return [delivery_sql.NewDelivery(f"group:{g[0].id}", None, artifact_id, [s.email for s in g]) for g in groups]


def _store(conn: psycopg.Connection, plan: Plan, produced: Produced, user_id: UUID | None) -> UUID:
    return insert_artifact(conn, plan.run.organization_id, plan.run.id, user_id,
                           content_type=produced.rendered.content_type, filename=produced.filename,
                           body=produced.rendered.body, sha256=produced.sha256,
                           row_count=produced.rendered.row_count)


def _insert_and_publish(state: WorkerState, plan: Plan, items: list[delivery_sql.NewDelivery],
                        publish: PublishDeliveries) -> None:
    with transaction(state.pool) as conn:
        ids = delivery_sql.insert_deliveries(
            conn, plan.run.organization_id, plan.run.id, plan.schedule.id, plan.schedule.destination_type,
            plan.schedule.retry_max_attempts, items, state.settings.delivery_lease_s)
    # Published after commit: a worker that reads the id finds the row. If we die before this,
    # the sweep republishes the rows once their publish_after passes.
    publish([(plan.schedule.destination_type, i) for i in ids])


def produce_chunk(run_id: UUID, chunk_no: int, publish: PublishDeliveries) -> None:
    """Produce and insert the deliveries of one chunk of a per_subscriber run; the last chunk finishes it."""
    state = get_state()
    with transaction(state.pool) as conn:
        user_ids = ex_sql.get_open_chunk(conn, run_id, chunk_no)
        run = run_sql.get_run_unscoped(conn, run_id) if user_ids is not None else None
        plan = load_plan(conn, run, state.settings) if run is not None and run.status == "running" else None
        subscribers = ex_sql.get_subscribers(conn, run.organization_id, user_ids) if plan and run and user_ids else []
    if plan is None:
        return  # done already (a redelivered message), or the run or schedule is gone
    produced = [(sub, _produce_or_error(plan, sub, state)) for sub in subscribers]
    with transaction(state.pool) as conn:
        items = [_subscriber_item(conn, plan, sub, result) for sub, result in produced]
        ids = delivery_sql.insert_deliveries(
            conn, plan.run.organization_id, run_id, plan.schedule.id, plan.schedule.destination_type,
            plan.schedule.retry_max_attempts, items, state.settings.delivery_lease_s)
        if ex_sql.finish_chunk(conn, run_id, chunk_no) == 0:
            ex_sql.mark_run_expanded(conn, run_id)
            ex_sql.finish_run_from_deliveries(conn, run_id, state.settings.consecutive_failures_to_disable)
    publish([(plan.schedule.destination_type, i) for i in ids])


def _subscriber_item(conn: psycopg.Connection, plan: Plan, sub: ex_sql.Subscriber,
                     result: Produced | str) -> delivery_sql.NewDelivery:
    recipients = [sub.email] if plan.schedule.destination_type == "email" else []
    if isinstance(result, str):
        return delivery_sql.NewDelivery(str(sub.id), sub.id, None, recipients, status="failed",
                                        error=result[:2000])
    artifact_id = _store(conn, plan, result, sub.id)
    reason = held_back(conn, plan, result, sub.id)
    if reason is not None:
        return delivery_sql.NewDelivery(str(sub.id), sub.id, artifact_id, recipients, status="cancelled",
                                        error=reason)
    return delivery_sql.NewDelivery(str(sub.id), sub.id, artifact_id, recipients)
