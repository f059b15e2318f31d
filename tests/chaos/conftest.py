"""Fault tests: real worker processes killed (SIGKILL) or stopped (SIGTERM) mid-work, then counted: nothing lost."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from celery import Celery
from psycopg_pool import ConnectionPool

from shared.celery_app import create_celery_app
from shared.db import transaction
from shared.settings import Settings
from tests.integration.workers.conftest import World
from tests.processes import Process, start_worker, wait_for

DELIVER_QUEUES = "deliver.webhook,deliver.slack,deliver.email,deliver.sftp"


@pytest.fixture()
def broker(settings: Settings, clean: None) -> Iterator[Celery]:
    app = create_celery_app(settings)
    yield app
    app.close()


@pytest.fixture()
def processes() -> Iterator[list[Process]]:
    started: list[Process] = []
    yield started
    for proc in started:
        proc.stop()


StartWorker = Callable[..., Process]


@pytest.fixture()
def start(settings: Settings, log_dir: Path, processes: list[Process]) -> StartWorker:
    """Start a worker as production runs it (runs: prefork; deliver.*: threads) and wait until it is ready."""

    def run(queues: str, *, concurrency: int | None = None, **env: str) -> Process:
        pool = "threads" if queues.startswith("deliver") else "prefork"
        proc = start_worker(settings, log_dir, queues=queues, pool=pool,
                            concurrency=concurrency or (4 if pool == "threads" else 2), **env)
        processes.append(proc)
        wait_for(lambda: "ready" in proc.output() or not proc.alive(), timeout=60)
        assert proc.alive(), proc.output()
        return proc

    return run


@pytest.fixture()
def chaos_world(pool: ConnectionPool, broker: Celery, settings: Settings) -> Callable[[Process], World]:
    def make(worker: Process) -> World:
        with transaction(pool) as conn:
            row = conn.execute("INSERT INTO organizations (name) VALUES (%s) RETURNING id",
                               (f"Chaos {uuid.uuid4().hex[:6]}",)).fetchone()
        assert row is not None
        return World(pool, broker, settings, worker, uuid.UUID(str(row[0])))

    return make
