"""Fixtures in one place: a private database and Redis per session, clean state per test."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient
from psycopg_pool import ConnectionPool

from shared.db import create_pool, transaction
from shared.settings import Settings
from shared.sql.organizations import create_organization, create_token
from tests.brokers import RABBITMQ_URL, RabbitBroker, RedisBroker, SessionBroker, rabbitmq_listening, selected_broker
from tests.servers import HttpSink
from tests.services import RedisServer, private_database, truncate_all

TEST_SECRET_KEY = "test-secret-key-0123456789abcdef"


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    with private_database() as url:
        yield url


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def broker_server(redis_server: RedisServer) -> Iterator[SessionBroker]:
    """The session's broker: its private Redis, or a private vhost on RabbitMQ (PUNCTUAL_TEST_BROKER=rabbitmq)."""
    if selected_broker() == "redis":
        yield RedisBroker(redis_server)
        return
    if not rabbitmq_listening():
        where = urlsplit(RABBITMQ_URL)
        pytest.skip(f"PUNCTUAL_TEST_BROKER=rabbitmq but nothing listens on {where.hostname}:{where.port or 5672} "
                    "(start RabbitMQ or set PUNCTUAL_TEST_RABBITMQ_URL)")
    if shutil.which("rabbitmqctl") is None:
        pytest.skip("PUNCTUAL_TEST_BROKER=rabbitmq but rabbitmqctl is not on PATH (it creates the session's vhost)")
    broker = RabbitBroker()
    yield broker
    broker.close()


@pytest.fixture(scope="session")
def base_settings(database_url: str, redis_server: RedisServer, broker_server: SessionBroker) -> Settings:
    return Settings(
        database_url=database_url,
        redis_url=redis_server.url,
        broker_url=broker_server.url,
        secret_key=TEST_SECRET_KEY,
        outbound_allowlist=("127.0.0.1", "localhost", "::1"),
        beat_max_sleep_s=1.0,
    )


@pytest.fixture()
def settings(base_settings: Settings, redis_server: RedisServer) -> Settings:
    # The Redis port is stable across a test that restarts it, but re-read it anyway.
    return replace(base_settings, redis_url=redis_server.url)


@pytest.fixture()
def clean(database_url: str, redis_server: RedisServer, broker_server: SessionBroker) -> None:
    truncate_all(database_url)
    if redis_server.proc is None:
        redis_server.start()
    redis_server.flush()
    if broker_server.name != "redis":
        broker_server.start()  # a test that cut it may have failed before restoring it
        broker_server.flush()


@pytest.fixture(scope="session")
def session_pool(base_settings: Settings) -> Iterator[ConnectionPool]:
    pool = create_pool(base_settings, min_size=1, max_size=4, name="punctual-tests")
    yield pool
    pool.close()


@pytest.fixture()
def pool(session_pool: ConnectionPool, clean: None) -> ConnectionPool:
    return session_pool


@pytest.fixture(scope="session")
def flask_app(base_settings: Settings) -> Iterator[Flask]:
    from api.app import create_app

    app = create_app(base_settings, TESTING=True)
    yield app
    app.extensions["punctual_pool"].close()


@pytest.fixture()
def client(flask_app: Flask, clean: None) -> FlaskClient:
    return flask_app.test_client()


@dataclass(frozen=True)
class Tenant:
    organization_id: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def make_tenant(pool: ConnectionPool, name: str = "Acme") -> Tenant:
    with transaction(pool) as conn:
        org = create_organization(conn, name)
        _, token = create_token(conn, org.id, "tests")
    return Tenant(str(org.id), token)


@pytest.fixture()
def tenant(pool: ConnectionPool) -> Tenant:
    return make_tenant(pool, "Acme")


@pytest.fixture()
def other_tenant(pool: ConnectionPool) -> Tenant:
    return make_tenant(pool, "Globex")


@pytest.fixture()
def http_sink() -> Iterator[HttpSink]:
    sink = HttpSink().start()
    yield sink
    sink.stop()


@pytest.fixture()
def log_dir(tmp_path: Path) -> Path:
    path = tmp_path / "logs"
    path.mkdir()
    return path


def pytest_report_header(config: pytest.Config) -> str:
    where = "DATABASE_URL" if os.environ.get("DATABASE_URL") else "embedded PostgreSQL (.data/pg)"
    broker = "a private RabbitMQ vhost" if selected_broker() == "rabbitmq" else "the private Redis"
    return f"punctual: PostgreSQL from {where}; Redis: a private redis-server per session; broker: {broker}"
