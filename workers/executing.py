"""Execute a run: produce content once (or per subscriber, in chunks) and insert its deliveries."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from uuid import UUID

import psycopg

from shared.db import transaction
from shared.sql import deliveries as delivery_sql
from shared.sql import execution as ex_sql
from shared.sql import runs as run_sql
from shared.sql.artifacts import insert_artifact
from workers.commands.base import CommandError
from workers.producing import Plan, Produced, held_back, load_plan, produce
from workers.state import WorkerState, get_state

logger = logging.getLogger("punctual.workers")

PAGE_SIZE = 1000        # subscribers read (and deliveries inserted and published) per transaction
CHUNK_SIZE = 25         # subscribers per per_subscriber task: small enough to spread, big enough to amortise
EMAIL_GROUP_SIZE = 50   # recipients of one message when email fan_out is off

PublishDeliveries = Callable[[list[tuple[str, UUID]]], None]
PublishChunks = Callable[[UUID, list[int]], None]


def execute_run(run_id: UUID, publish: PublishDeliveries, publish_chunks: PublishChunks) -> None:
    """Claim a run; per_subscriber plans chunks for other workers, once_distribute produces and fans out."""
    state = get_state()
    with transaction(state.pool) as conn:
        run = run_sql.claim_run(conn, run_id, state.settings.delivery_lease_s)
        if run is None:
            return  # started already: a redelivered or republished message
        plan = load_plan(conn, run)
        if plan is None:
            _fail(conn, state, run_id, "schedule or command deleted")
            return
        spread = plan.schedule.run_mode == "per_subscriber" and (
            plan.schedule.destination_type == "email"
            or ex_sql.has_subscribers(conn, run.organization_id, run.schedule_id))
        chunks = _plan_chunks(conn, state, plan) if spread else []
    if spread:
        if chunks:
            publish_chunks(run_id, chunks)
        else:
            _finish(state, run_id)  # nobody subscribed: nothing to send
        return
    _distribute_once(state, plan, publish)


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
    run = plan.run
    produced = _produce_or_error(plan, None, state)
    with transaction(state.pool) as conn:
        if isinstance(produced, str):
            _fail(conn, state, run.id, produced)
            return
        reason = held_back(conn, plan, produced, None)
        if reason is not None:
            ex_sql.finish_run(conn, run.id, "skipped", error=reason,
                              disable_after=state.settings.consecutive_failures_to_disable)
            return
        artifact_id = _store(conn, plan, produced, None)
    kind = plan.schedule.destination_type
    if kind == "email":
        for page in _subscriber_pages(state, plan):
            _insert_and_publish(state, plan, _email_items(plan, page, artifact_id), publish)
    else:
        # A webhook, Slack channel or SFTP server is one recipient: the destination itself.
        _insert_and_publish(state, plan, [delivery_sql.NewDelivery("destination", None, artifact_id)], publish)
    _finish(state, run.id)


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
        plan = load_plan(conn, run) if run is not None and run.status == "running" else None
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
