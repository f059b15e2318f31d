"""Celery tasks. Thin: they take ids, load, call, record."""

from __future__ import annotations

import logging
from typing import Any
from uuid import UUID

from celery.signals import worker_process_init

from shared.celery_app import RUNS_QUEUE, TASK_DELIVER, TASK_EXECUTE_RUN, TASK_START_RUNS
from workers.app import app
from workers.delivering import deliver_one
from workers.executing import execute_run
from workers.state import reset_state

logger = logging.getLogger("punctual.workers")


@worker_process_init.connect  # type: ignore[misc]
def _after_fork(**_: Any) -> None:
    reset_state()


@app.task(name=TASK_START_RUNS, queue=RUNS_QUEUE)  # type: ignore[misc]
def start_runs(run_ids: list[str]) -> None:
    """Expand a batch from beat into one execute task per run, so runs spread over workers."""
    for run_id in run_ids:
        app.send_task(TASK_EXECUTE_RUN, args=[run_id], queue=RUNS_QUEUE)


@app.task(name=TASK_EXECUTE_RUN, queue=RUNS_QUEUE)  # type: ignore[misc]
def execute(run_id: str) -> None:
    """Execute one run: produce its content, insert its deliveries, publish them."""
    for kind, delivery_id in execute_run(UUID(run_id)):
        app.send_task(TASK_DELIVER[kind], args=[str(delivery_id)])


def _deliver(delivery_id: str) -> None:
    retry_in = deliver_one(UUID(delivery_id))
    if retry_in is not None:
        kind_task = _deliver_task_name(UUID(delivery_id))
        if kind_task:
            app.send_task(kind_task, args=[delivery_id], countdown=retry_in)


def _deliver_task_name(delivery_id: UUID) -> str | None:
    from shared.sql.deliveries import get_delivery
    from workers.state import get_state
    with get_state().pool.connection() as conn:
        delivery = get_delivery(conn, delivery_id)
    return TASK_DELIVER[delivery.destination_type] if delivery else None


@app.task(name=TASK_DELIVER["webhook"])  # type: ignore[misc]
def deliver_webhook(delivery_id: str) -> None:
    """Attempt one webhook delivery; schedules the next attempt on a transient error."""
    _deliver(delivery_id)


@app.task(name=TASK_DELIVER["email"])  # type: ignore[misc]
def deliver_email(delivery_id: str) -> None:
    """Attempt one email delivery; schedules the next attempt on a transient error."""
    _deliver(delivery_id)


@app.task(name=TASK_DELIVER["sftp"])  # type: ignore[misc]
def deliver_sftp(delivery_id: str) -> None:
    """Attempt one SFTP delivery; schedules the next attempt on a transient error."""
    _deliver(delivery_id)


@app.task(name=TASK_DELIVER["slack"])  # type: ignore[misc]
def deliver_slack(delivery_id: str) -> None:
    """Attempt one Slack delivery; schedules the next attempt on a transient error."""
    _deliver(delivery_id)
