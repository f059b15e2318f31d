"""PostgreSQL and Redis for the test session: real servers, one private database each run."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from api.embedded import free_port, start_postgres, start_redis
from shared.migrate import apply_migrations
from shared.settings import REPO_ROOT

TABLES = (
    "delivery_attempts", "deliveries", "delivery_counts", "artifacts", "run_chunks", "runs", "schedule_subscribers",
    "campaigns", "data_sources",
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
        for attempt in range(5):
            try:
                conn.execute(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE")
                return
            except psycopg.errors.DeadlockDetected:
                # A worker kept across tests may be mid-sweep: its statement takes the tables' locks in
                # another order than TRUNCATE, and one of the two is chosen as the victim. Ours retries.
                if attempt == 4:
                    raise
                time.sleep(0.2)


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


def postgres_bin_dir() -> Path | None:
    """The newest of the machine's PostgreSQL server binaries (initdb, pg_ctl), or None."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"), key=lambda p: int(p.parent.parent.name)
                   if p.parent.parent.name.isdigit() else 0)
    return found[-1].parent if found else None


class PostgresCluster:
    """A private PostgreSQL cluster on a free port, made with initdb, that a test may crash and start again.

    Never the machine's server: its own data folder, port and socket folder, removed afterwards.
    """

    def __init__(self, bin_dir: Path) -> None:
        self.bin_dir = bin_dir
        self.root = Path(tempfile.mkdtemp(prefix="punctual-pg-"))
        self.data = self.root / "data"
        self.port = free_port()
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        if os.geteuid() == 0:  # PostgreSQL refuses to run as root
            shutil.chown(self.root, "postgres", "postgres")
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")

    def _run(self, tool: str, *args: str) -> None:
        command = [str(self.bin_dir / tool), *args]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        result = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
        if result.returncode != 0:
            raise RuntimeError(f"{tool} failed: {result.stdout}{result.stderr}")

    def start(self) -> None:
        # fsync off is safe for a crash of the server process (the kernel keeps what was written);
        # synchronous_commit must stay on: off, a commit acknowledged just before the crash is lost,
        # which no application can survive (a run claimed, its acknowledged work gone).
        options = (f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off "
                   "-c full_page_writes=off -c max_connections=200")
        self._run("pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.root / "server.log"), "-w", "start")

    def crash(self) -> None:
        """Stop at once, as a crash would (immediate mode: no checkpoint, every connection cut)."""
        self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")

    def remove(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.root, ignore_errors=True)
