"""Celery tasks. Thin: they take ids, load, call, record."""

from __future__ import annotations

import logging
from typing import Any
from uuid import UUID

import psycopg
from celery.signals import worker_process_init, worker_process_shutdown, worker_ready, worker_shutdown

from shared.celery_app import RUNS_QUEUE, TASK_DELIVER, TASK_EXECUTE_RUNS, TASK_PRODUCE_CHUNK, TASK_START_RUNS
from shared.settings import load_settings
from workers.app import app
from workers.delivering import deliver_batch
from workers.executing import execute_runs, produce_chunk
from workers.publishing import publish_runs
from workers.state import claims_abandoned_on_lost_connection, close_state, get_state, reset_state
from workers.sweeping import Sweeper
from workers.termination import follow_parent_sigterm

logger = logging.getLogger("punctual.workers")

# A database blip (restart, failover, a deadlock victim) is retried within seconds rather than
# waiting for the sweep. The work is claimed by keyed rows, so a retry is harmless.
DB_RETRY: dict[str, Any] = {"autoretry_for": (psycopg.OperationalError,), "retry_backoff": 1,
                            "retry_backoff_max": 30, "max_retries": 5}

_sweeper: Sweeper | None = None


@worker_ready.connect  # type: ignore[misc]
def _start_sweeper(**_: Any) -> None:
    global _sweeper
    _sweeper = Sweeper(load_settings())
    _sweeper.start()


@worker_shutdown.connect  # type: ignore[misc]
def _stop_worker(**_: Any) -> None:
    if _sweeper is not None:
        _sweeper.stop()
    close_state()  # threads pool: this process ran the tasks; remove its heartbeat


@worker_process_init.connect  # type: ignore[misc]
def _after_fork(**_: Any) -> None:
    reset_state()
    follow_parent_sigterm()  # a SIGTERM to the whole group must not kill a child mid-task


@worker_process_shutdown.connect  # type: ignore[misc]
def _child_exit(**_: Any) -> None:
    close_state()  # prefork child: remove its heartbeat as it exits


def _ids(value: list[str] | str) -> list[UUID]:
    # Messages carry a list of ids; a single id is accepted from messages of an earlier version.
    return [UUID(v) for v in ([value] if isinstance(value, str) else value)]


@app.task(name=TASK_START_RUNS, queue=RUNS_QUEUE, **DB_RETRY)  # type: ignore[misc]
def start_runs(run_ids: list[str]) -> None:
    """Split a batch from beat into execute messages of a few runs each, so runs spread over workers."""
    # One message per few runs, not per run: publishing costs about as much as claiming a handful.
    publish_runs(_ids(run_ids), get_state().settings.runs_per_message)


@app.task(name=TASK_EXECUTE_RUNS, queue=RUNS_QUEUE, **DB_RETRY)  # type: ignore[misc]
def execute_batch(run_ids: list[str]) -> None:
    """Claim a few runs in one statement and carry each out by its run mode; runs started already are skipped."""
    with claims_abandoned_on_lost_connection():
        execute_runs(_ids(run_ids))


@app.task(name=TASK_PRODUCE_CHUNK, queue=RUNS_QUEUE, **DB_RETRY)  # type: ignore[misc]
def produce_subscriber_chunk(run_id: str, chunk_no: int) -> None:
    """Produce one chunk of a per_subscriber run (a command run per subscriber) and publish its deliveries."""
    with claims_abandoned_on_lost_connection():
        produce_chunk(UUID(run_id), int(chunk_no))


@app.task(name=TASK_DELIVER["webhook"], **DB_RETRY)  # type: ignore[misc]
def deliver_webhook(delivery_ids: list[str]) -> None:
    """Attempt a batch of webhook deliveries; transient errors leave them retrying for the sweep."""
    with claims_abandoned_on_lost_connection():
        deliver_batch("webhook", _ids(delivery_ids))


@app.task(name=TASK_DELIVER["email"], **DB_RETRY)  # type: ignore[misc]
def deliver_email(delivery_ids: list[str]) -> None:
    """Attempt a batch of email deliveries over one SMTP connection; transient errors are retried by the sweep."""
    with claims_abandoned_on_lost_connection():
        deliver_batch("email", _ids(delivery_ids))


@app.task(name=TASK_DELIVER["sftp"], **DB_RETRY)  # type: ignore[misc]
def deliver_sftp(delivery_ids: list[str]) -> None:
    """Attempt a batch of SFTP deliveries, one session per host; transient errors are retried by the sweep."""
    with claims_abandoned_on_lost_connection():
        deliver_batch("sftp", _ids(delivery_ids))


@app.task(name=TASK_DELIVER["slack"], **DB_RETRY)  # type: ignore[misc]
def deliver_slack(delivery_ids: list[str]) -> None:
    """Attempt a batch of Slack deliveries; transient errors leave them retrying for the sweep."""
    with claims_abandoned_on_lost_connection():
        deliver_batch("slack", _ids(delivery_ids))


@app.task(name=TASK_DELIVER["gateway"], **DB_RETRY)  # type: ignore[misc]
def deliver_gateway(delivery_ids: list[str]) -> None:
    """Attempt a batch of deliveries to message gateways; transient errors leave them retrying for the sweep."""
    with claims_abandoned_on_lost_connection():
        deliver_batch("gateway", _ids(delivery_ids))
