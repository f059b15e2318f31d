"""Celery tasks. Thin: they take ids, load, call, record."""

from __future__ import annotations

import logging
from typing import Any
from uuid import UUID

import psycopg
from celery.signals import worker_process_init, worker_ready, worker_shutdown

from shared.celery_app import DELIVERY_QUEUES, RUNS_QUEUE, TASK_DELIVER, TASK_EXECUTE_RUN, TASK_START_RUNS
from shared.settings import load_settings
from workers.app import app
from workers.delivering import deliver_one
from workers.executing import execute_run, execute_runs, produce_chunk
from workers.state import get_state, reset_state
from workers.sweeping import Publishers, Sweeper

logger = logging.getLogger("punctual.workers")

# Published by workers only (beat never sees it), so its name lives here, next to the task.
TASK_PRODUCE_CHUNK = "punctual.runs.produce_chunk"
TASK_EXECUTE_BATCH = "punctual.runs.execute_batch"
# A database blip (restart, failover, a deadlock victim) is retried within seconds rather than
# waiting a whole lease for the sweep. The work is claimed by keyed rows, so a retry is harmless.
DB_RETRY: dict[str, Any] = {"autoretry_for": (psycopg.OperationalError,), "retry_backoff": 1,
                            "retry_backoff_max": 30, "max_retries": 5}


def publish_deliveries(items: list[tuple[str, UUID]]) -> None:
    """Publish one delivery task per (destination kind, delivery id) on the kind's queue."""
    if not items:
        return
    # One producer (one broker connection) for the whole batch: 10,000 sends, not 10,000 connects.
    with app.producer_or_acquire() as producer:
        for kind, delivery_id in items:
            app.send_task(TASK_DELIVER[kind], args=[str(delivery_id)], queue=DELIVERY_QUEUES[kind],
                          producer=producer)


def publish_chunks(run_id: UUID, numbers: list[int]) -> None:
    """Publish one produce-chunk task per chunk of a per_subscriber run."""
    with app.producer_or_acquire() as producer:
        for number in numbers:
            app.send_task(TASK_PRODUCE_CHUNK, args=[str(run_id), number], queue=RUNS_QUEUE, producer=producer)


def publish_runs(run_ids: list[UUID]) -> None:
    """Publish execute tasks for runs (stalled ones the sweep found)."""
    with app.producer_or_acquire() as producer:
        for run_id in run_ids:
            app.send_task(TASK_EXECUTE_RUN, args=[str(run_id)], queue=RUNS_QUEUE, producer=producer)


_sweeper: Sweeper | None = None


@worker_ready.connect  # type: ignore[misc]
def _start_sweeper(**_: Any) -> None:
    global _sweeper
    _sweeper = Sweeper(load_settings(), Publishers(publish_deliveries, publish_chunks, publish_runs))
    _sweeper.start()


@worker_shutdown.connect  # type: ignore[misc]
def _stop_sweeper(**_: Any) -> None:
    if _sweeper is not None:
        _sweeper.stop()


@worker_process_init.connect  # type: ignore[misc]
def _after_fork(**_: Any) -> None:
    reset_state()


@app.task(name=TASK_START_RUNS, queue=RUNS_QUEUE, **DB_RETRY)  # type: ignore[misc]
def start_runs(run_ids: list[str]) -> None:
    """Split a batch from beat into execute_batch tasks of a few runs each, so runs spread over workers."""
    size = get_state().settings.run_chunk_size
    # One message per chunk, not per run: publishing costs about as much as claiming a whole chunk.
    with app.producer_or_acquire() as producer:
        for i in range(0, len(run_ids), size):
            app.send_task(TASK_EXECUTE_BATCH, args=[run_ids[i:i + size]], queue=RUNS_QUEUE, producer=producer)


@app.task(name=TASK_EXECUTE_BATCH, queue=RUNS_QUEUE, **DB_RETRY)  # type: ignore[misc]
def execute_batch(run_ids: list[str]) -> None:
    """Claim a chunk of runs in one statement and execute each; runs started already are skipped."""
    execute_runs([UUID(r) for r in run_ids], publish_deliveries, publish_chunks)


@app.task(name=TASK_EXECUTE_RUN, queue=RUNS_QUEUE, **DB_RETRY)  # type: ignore[misc]
def execute(run_id: str) -> None:
    """Execute one run: produce its content (or plan its chunks), insert its deliveries, publish them."""
    execute_run(UUID(run_id), publish_deliveries, publish_chunks)


@app.task(name=TASK_PRODUCE_CHUNK, queue=RUNS_QUEUE, **DB_RETRY)  # type: ignore[misc]
def produce_subscriber_chunk(run_id: str, chunk_no: int) -> None:
    """Produce one chunk of a per_subscriber run (a command run per subscriber) and publish its deliveries."""
    produce_chunk(UUID(run_id), int(chunk_no), publish_deliveries)


@app.task(name=TASK_DELIVER["webhook"], **DB_RETRY)  # type: ignore[misc]
def deliver_webhook(delivery_id: str) -> None:
    """Attempt one webhook delivery; a transient error leaves it retrying for the sweep."""
    deliver_one(UUID(delivery_id))


@app.task(name=TASK_DELIVER["email"], **DB_RETRY)  # type: ignore[misc]
def deliver_email(delivery_id: str) -> None:
    """Attempt one email delivery; a transient error leaves it retrying for the sweep."""
    deliver_one(UUID(delivery_id))


@app.task(name=TASK_DELIVER["sftp"], **DB_RETRY)  # type: ignore[misc]
def deliver_sftp(delivery_id: str) -> None:
    """Attempt one SFTP delivery; a transient error leaves it retrying for the sweep."""
    deliver_one(UUID(delivery_id))


@app.task(name=TASK_DELIVER["slack"], **DB_RETRY)  # type: ignore[misc]
def deliver_slack(delivery_id: str) -> None:
    """Attempt one Slack delivery; a transient error leaves it retrying for the sweep."""
    deliver_one(UUID(delivery_id))
