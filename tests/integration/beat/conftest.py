"""Helpers for beat's integration tests: schedules written straight into the database, and the
run ids beat put in the broker read back from it (Redis or RabbitMQ)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from psycopg_pool import ConnectionPool

from shared.db import transaction
from shared.settings import Settings
from tests.brokers import SessionBroker
from tests.processes import Process, start_beat


def make_org(pool: ConnectionPool) -> UUID:
    with transaction(pool) as conn:
        row = conn.execute("INSERT INTO organizations (name) VALUES ('Beat tests') RETURNING id").fetchone()
    assert row is not None
    return UUID(str(row[0]))


def insert_schedules(pool: ConnectionPool, org: UUID, count: int, *, cron: str = "0 0 1 1 *",
                     next_run_at: str = "now()", misfire: str = "run_once", **columns: str) -> list[UUID]:
    """Insert `count` webhook schedules; next_run_at and `columns` values are SQL (g is 1..count).

    The default expression is yearly, so a test that counts runs gets only the slot it set up:
    an every-minute default would fire again whenever a test crosses a minute boundary.
    """
    names = "".join(f", {name}" for name in columns)
    values = "".join(f", {value}" for value in columns.values())
    with transaction(pool) as conn:
        rows = conn.execute(
            f"""INSERT INTO schedules (organization_id, name, cron_expression, destination_type,
                                       misfire_policy, next_run_at{names})
                SELECT %s, 'beat test ' || g, %s, 'webhook', %s, {next_run_at}{values}
                FROM generate_series(1, %s) AS g
                RETURNING id""",  # type: ignore[arg-type]
            (org, cron, misfire, count),
        ).fetchall()
    return [UUID(str(r[0])) for r in rows]


def notify(pool: ConnectionPool) -> None:
    with transaction(pool) as conn:
        conn.execute("SELECT pg_notify('punctual_wakeup', '')")


def scalar(pool: ConnectionPool, sql: str, params: Any = None) -> Any:
    with transaction(pool) as conn:
        row = conn.execute(sql, params).fetchone()
    assert row is not None
    return row[0]


def broker_run_ids(broker: SessionBroker) -> Counter[str]:
    """Every run id in the messages waiting in the runs queue, with how often each appears."""
    return broker.run_ids()


class Beats:
    """Real `celery beat` processes started by a test and stopped after it."""

    def __init__(self, settings: Settings, log_dir: Path) -> None:
        self.settings, self.log_dir = settings, log_dir
        self.procs: list[Process] = []

    def start(self, **env: str) -> Process:
        proc = start_beat(self.settings, self.log_dir, **env)
        self.procs.append(proc)
        return proc

    def stop(self) -> None:
        for proc in self.procs:
            proc.stop()

    def output(self) -> str:
        return "\n".join(p.output() for p in self.procs)


@pytest.fixture()
def beats(settings: Settings, log_dir: Path, pool: ConnectionPool) -> Iterator[Beats]:
    started = Beats(settings, log_dir)
    yield started
    started.stop()


def wait_until_beats_ready(pool: ConnectionPool, count: int, timeout: float = 30.0) -> None:
    """Wait until `count` beats have recorded a heartbeat (they have finished starting)."""
    from tests.processes import wait_for

    wait_for(lambda: scalar(pool, "SELECT count(*) FROM beat_heartbeats") >= count, timeout=timeout)
