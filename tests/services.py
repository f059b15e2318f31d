"""PostgreSQL and Redis for the test session: real servers, one private database each run."""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from api.embedded import start_postgres, start_redis
from shared.migrate import apply_migrations
from shared.settings import REPO_ROOT

TABLES = (
    "delivery_attempts", "deliveries", "artifacts", "run_chunks", "runs", "schedule_subscribers", "campaigns",
    "data_sources",
    "contact_list_members", "contact_lists", "schedules", "commands", "user_attributes", "users",
    "api_tokens", "organizations", "beat_heartbeats",
)


def server_url() -> str:
    """DATABASE_URL when set, else the embedded PostgreSQL under .data/pg."""
    return os.environ.get("DATABASE_URL") or start_postgres(REPO_ROOT / ".data" / "pg")


@contextmanager
def private_database(admin_url: str | None = None, prefix: str = "punctual_test", *,
                     migrate: bool = True) -> Iterator[str]:
    """Create a fresh database, migrated unless told not to (tests, benchmarks), and drop it afterwards."""
    admin_url = admin_url or server_url()
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    params = conninfo_to_dict(admin_url)
    params["dbname"] = name
    url = make_conninfo(**params)  # type: ignore[arg-type]
    try:
        if migrate:
            with psycopg.connect(url) as conn:
                apply_migrations(conn)
        yield url
    finally:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def truncate_all(url: str) -> None:
    """Empty every table (each test starts from a clean state).

    worker_heartbeats is left alone: a worker process kept across tests is alive, and deleting
    its heartbeat would make what it holds look abandoned.
    """
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE")


class RedisServer:
    """A private redis-server on a free port that a test may stop and start again."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.proc: subprocess.Popen[bytes] | None = None
        self.port: int | None = None
        self.url = ""

    def start(self) -> str:
        self.url, self.proc = start_redis(self.data_dir, self.port)
        self.port = int(self.url.rsplit(":", 1)[1].split("/")[0])
        return self.url

    def kill(self) -> None:
        """Kill hard (SIGKILL), as a crash would: nothing is saved, it comes back empty."""
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(timeout=10)
            self.proc = None

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
            self.proc = None

    def flush(self) -> None:
        import redis

        client = redis.Redis.from_url(self.url)
        client.flushall()
        client.close()
