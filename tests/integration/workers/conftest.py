"""Worker integration fixtures: one real worker per module, real SMTP/SFTP/HTTP servers, data made with SQL."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest
from celery import Celery
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool

from shared.celery_app import RUNS_QUEUE, TASK_START_RUNS, create_celery_app
from shared.crypto import encrypt_secret
from shared.db import transaction
from shared.settings import Settings
from shared.sql.schedules import insert_schedule, set_subscribers
from tests.processes import Process, start_worker, wait_for
from tests.servers import SftpServer, SmtpSink
from tests.services import private_database, truncate_all

TERMINAL = ("complete", "error_delivered", "failed", "skipped")
DISABLE_AFTER = 3


@pytest.fixture(scope="module")
def smtp_sink() -> Iterator[SmtpSink]:
    sink = SmtpSink().start()
    yield sink
    sink.stop()


@pytest.fixture(scope="module")
def sftp_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SftpServer]:
    server = SftpServer(tmp_path_factory.mktemp("sftp-root")).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def worker(base_settings: Settings, database_url: str, smtp_sink: SmtpSink, warehouse_url: str,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[Process]:
    # One worker per module: the tests in it never flush Redis, so its queue bindings stay valid.
    truncate_all(database_url)
    proc = start_worker(
        base_settings, tmp_path_factory.mktemp("worker-logs"), concurrency=3,
        PUNCTUAL_SMTP_PORT=str(smtp_sink.port), PUNCTUAL_MAIL_FROM="reports@punctual.test",
        PUNCTUAL_RETRY_SWEEP_INTERVAL="0.2", PUNCTUAL_DISABLE_AFTER_FAILURES=str(DISABLE_AFTER),
        PUNCTUAL_HTTP_READ_TIMEOUT="5", PUNCTUAL_COMMAND_MAX_OUTPUT_BYTES=str(1024 * 1024),
        # An operator's data source granted to every organization; tenants' own ones are rows.
        PUNCTUAL_DATA_SOURCES=json.dumps({"granted_wh": {"url": warehouse_url, "organizations": "*"}}),
    )
    wait_for(lambda: "ready" in proc.output() or not proc.alive(), timeout=60)
    assert proc.alive(), proc.output()
    yield proc
    proc.stop()


@pytest.fixture(scope="module")
def broker(base_settings: Settings) -> Iterator[Celery]:
    app = create_celery_app(base_settings)
    yield app
    app.close()


@dataclass
class World:
    """Test data made with SQL, and a way to fire runs the way beat does."""
    pool: ConnectionPool
    broker: Celery
    settings: Settings
    worker: Process
    org: uuid.UUID

    def user(self, email: str, *, name: str | None = None, timezone: str = "UTC",
             attributes: dict[str, Any] | None = None, org: uuid.UUID | None = None) -> uuid.UUID:
        with transaction(self.pool) as conn:
            row = conn.execute(
                """INSERT INTO users (organization_id, email, name, timezone, attributes)
                   VALUES (%s, %s, %s, %s, %s) RETURNING id""",
                (org or self.org, email, name, timezone, Jsonb(attributes or {})),
            ).fetchone()
        assert row is not None
        return uuid.UUID(str(row[0]))

    def users(self, count: int, prefix: str = "user") -> list[uuid.UUID]:
        with transaction(self.pool) as conn:
            rows = conn.execute(
                """INSERT INTO users (organization_id, email, name)
                   SELECT %s, %s || g || '@example.test', 'User ' || g FROM generate_series(1, %s) g
                   RETURNING id""",
                (self.org, prefix, count),
            ).fetchall()
        return [uuid.UUID(str(r[0])) for r in rows]

    def data_source(self, name: str, url: str, *, org: uuid.UUID | None = None) -> None:
        """An organization's own data source, stored as the API stores it (URL encrypted)."""
        with transaction(self.pool) as conn:
            conn.execute("INSERT INTO data_sources (organization_id, name, url_secret, display_url) "
                         "VALUES (%s, %s, %s, %s)",
                         (org or self.org, name, encrypt_secret(self.settings.secret_key, {"url": url}), name))

    def command(self, kind: str, config: dict[str, Any], filter_keys: list[str] | None = None, *,
                secrets: dict[str, Any] | None = None) -> uuid.UUID:
        """A command stored as the API stores it: secrets (an http command's headers) encrypted."""
        with transaction(self.pool) as conn:
            row = conn.execute(
                """INSERT INTO commands (organization_id, name, kind, config, filter_keys, config_secret)
                   VALUES (%s, %s, %s, %s, %s, %s) RETURNING id""",
                (self.org, f"{kind} command", kind, Jsonb(config), filter_keys or [],
                 encrypt_secret(self.settings.secret_key, secrets) if secrets else None),
            ).fetchone()
        assert row is not None
        return uuid.UUID(str(row[0]))

    def schedule(self, destination: dict[str, Any], *, secrets: dict[str, Any] | None = None,
                 subscribers: list[uuid.UUID] | None = None, **values: Any) -> uuid.UUID:
        public = {k: v for k, v in destination.items() if k not in ("password", "private_key", "secret")}
        values.setdefault("name", "Weekly sales")
        values.setdefault("cron_expression", "0 9 * * MON")
        values.setdefault("run_mode", "once_distribute")
        values.setdefault("retry_base_delay_s", 0.05)
        values.setdefault("retry_max_delay_s", 0.2)
        with transaction(self.pool) as conn:
            schedule = insert_schedule(conn, self.org, {
                "destination_type": destination["type"], "destination": public,
                "destination_secret": encrypt_secret(self.settings.secret_key, secrets) if secrets else None,
                **values,
            })
            if subscribers:
                set_subscribers(conn, self.org, schedule.id, subscribers)
        return schedule.id

    def fire(self, schedule_id: uuid.UUID, *, scheduled_for: datetime | None = None) -> uuid.UUID:
        """Insert a pending run and publish it as beat does (TASK_START_RUNS with a batch of ids)."""
        with transaction(self.pool) as conn:
            row = conn.execute(
                """INSERT INTO runs (organization_id, schedule_id, scheduled_for, trigger)
                   VALUES (%s, %s, %s, 'manual') RETURNING id""",
                (self.org, schedule_id, scheduled_for or datetime.now(UTC)),
            ).fetchone()
            assert row is not None
            conn.execute("UPDATE runs SET status = 'published', published_at = now() WHERE id = %s", (row[0],))
        run_id = uuid.UUID(str(row[0]))
        self.broker.send_task(TASK_START_RUNS, args=[[str(run_id)]], queue=RUNS_QUEUE)
        return run_id

    def run(self, run_id: uuid.UUID) -> dict[str, Any]:
        return self.one("SELECT * FROM runs WHERE id = %s", run_id)

    def wait_run(self, run_id: uuid.UUID, timeout: float = 30) -> dict[str, Any]:
        try:
            wait_for(lambda: self.run(run_id)["status"] in TERMINAL, timeout=timeout)
        except AssertionError:
            deliveries = self.all("SELECT status, claimed_by, attempts, count(*) AS n FROM deliveries "
                                  "WHERE run_id = %s GROUP BY 1, 2, 3", run_id)
            chunks = self.all("SELECT chunk_no, claimed_by, done_at IS NOT NULL AS done FROM run_chunks "
                              "WHERE run_id = %s", run_id)
            workers = self.all("SELECT worker_id, now() - last_seen_at AS silent FROM worker_heartbeats")
            raise AssertionError(f"run {self.run(run_id)} did not finish; deliveries {deliveries}; chunks {chunks}; "
                                 f"workers {workers}; worker log:\n{self.worker.output()[-4000:]}") from None
        return self.run(run_id)

    def deliveries(self, run_id: uuid.UUID) -> list[dict[str, Any]]:
        return self.all("SELECT * FROM deliveries WHERE run_id = %s ORDER BY recipient_key", run_id)

    def attempts(self, delivery_id: uuid.UUID) -> list[dict[str, Any]]:
        return self.all("SELECT * FROM delivery_attempts WHERE delivery_id = %s ORDER BY attempt_number",
                        delivery_id)

    def schedule_row(self, schedule_id: uuid.UUID) -> dict[str, Any]:
        return self.one("SELECT * FROM schedules WHERE id = %s", schedule_id)

    def all(self, sql: str, *params: Any) -> list[dict[str, Any]]:
        with self.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            cur.execute(sql, params)  # type: ignore[arg-type]
            return cur.fetchall()

    def one(self, sql: str, *params: Any) -> dict[str, Any]:
        rows = self.all(sql, *params)
        assert len(rows) == 1, rows
        return rows[0]


@pytest.fixture()
def world(session_pool: ConnectionPool, database_url: str, broker: Celery, worker: Process,
          base_settings: Settings) -> World:
    # Tables are emptied, Redis is not: flushing would drop the running worker's queue bindings.
    truncate_all(database_url)
    with transaction(session_pool) as conn:
        row = conn.execute("INSERT INTO organizations (name) VALUES ('Acme') RETURNING id").fetchone()
    assert row is not None
    return World(session_pool, broker, base_settings, worker, uuid.UUID(str(row[0])))


@dataclass
class Warehouse:
    """A database that is not Punctual's, holding wh_sales, registered as the organization's data source."""
    url: str
    name: str = "warehouse"

    def execute(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.url, autocommit=True) as conn:
            cur = conn.execute(sql, params or None)  # type: ignore[arg-type]
            return cur.fetchall() if cur.description else []


@pytest.fixture(scope="session")
def warehouse_url() -> Iterator[str]:
    with private_database(prefix="punctual_wh", migrate=False) as url:
        yield url


@pytest.fixture()
def warehouse(world: World, warehouse_url: str) -> Warehouse:
    wh = Warehouse(warehouse_url)
    wh.execute("DROP TABLE IF EXISTS wh_sales")
    wh.execute("CREATE TABLE wh_sales (region text, amount int, note text)")
    wh.execute("""INSERT INTO wh_sales VALUES ('east', 10, 'ok'), ('east', 5, '=HYPERLINK("http://evil")'),
                  ('west', 7, '+1')""")
    world.data_source(wh.name, warehouse_url)
    return wh


def parse_mail(content: bytes) -> Any:
    from email import message_from_bytes, policy

    return message_from_bytes(content, policy=policy.default)
