"""Real Punctual processes for integration and e2e tests: API (gunicorn), beat, workers."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import requests

from api.embedded import free_port
from shared.settings import REPO_ROOT, Settings

BIN = Path(sys.executable).parent


def settings_env(settings: Settings, **extra: str) -> dict[str, str]:
    """The environment a Punctual process needs to use these settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PUNCTUAL_", "CELERY"))}
    env.update(
        DATABASE_URL=settings.database_url,
        REDIS_URL=settings.redis_url,
        BROKER_URL=settings.broker_url,
        PUNCTUAL_SECRET_KEY=settings.secret_key,
        PUNCTUAL_OUTBOUND_ALLOWLIST=",".join(settings.outbound_allowlist),
        PUNCTUAL_SMTP_HOST=settings.smtp_host,
        PUNCTUAL_SMTP_PORT=str(settings.smtp_port),
        PUNCTUAL_BEAT_MAX_SLEEP=str(settings.beat_max_sleep_s),
        PUNCTUAL_DATA_DIR=str(REPO_ROOT / ".data" / "none"),  # never fall back to make run's services
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


class Process:
    """A child process with its output in a log file, stopped by PID."""

    def __init__(self, name: str, args: list[str], env: dict[str, str], log_dir: Path) -> None:
        self.name = name
        self.log_path = log_dir / f"{name}-{time.monotonic_ns()}.log"
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(args, env=env, cwd=REPO_ROOT, stdout=self.log,
                                     stderr=subprocess.STDOUT, start_new_session=True)

    def output(self) -> str:
        self.log.flush()
        return self.log_path.read_text(errors="replace")

    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> None:
        """Kill hard (SIGKILL), as a crash would."""
        if self.alive():
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self, timeout: float = 15) -> None:
        if self.alive():
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        self.log.close()


def start_beat(settings: Settings, log_dir: Path, **extra: str) -> Process:
    """Start a real `celery beat` with Punctual's scheduler."""
    return Process("beat", [str(BIN / "celery"), "-A", "beat.app", "beat", "-S",
                            "beat.scheduler:PunctualScheduler", "--loglevel", "INFO",
                            "--schedule", str(log_dir / f"beat-{time.monotonic_ns()}.db")],
                   settings_env(settings, **extra), log_dir)


def start_worker(settings: Settings, log_dir: Path, *, queues: str = "runs,deliver.email,deliver.sftp,"
                 "deliver.webhook,deliver.slack", concurrency: int = 2, pool: str = "prefork",
                 **extra: str) -> Process:
    """Start a real `celery worker` on the given queues."""
    return Process("worker", [str(BIN / "celery"), "-A", "workers.app", "worker", "-Q", queues,
                              "-P", pool, "-c", str(concurrency), "--loglevel", "INFO",
                              "-n", f"test{time.monotonic_ns()}@%h", "--without-gossip",
                              "--without-mingle"],
                   settings_env(settings, **extra), log_dir)


def start_api(settings: Settings, log_dir: Path, **extra: str) -> tuple[Process, str]:
    """Start the API under gunicorn on a free port; return the process and its base URL."""
    port = free_port()
    args = [str(BIN / "gunicorn"), "--bind", f"127.0.0.1:{port}", "--workers", "2", "--no-control-socket",
            "api.wsgi:app"]
    proc = Process("api", args, settings_env(settings, **extra), log_dir)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            requests.get(f"{base}/v1/health", timeout=1)
            return proc, base
        except requests.RequestException:
            if not proc.alive():
                break
            time.sleep(0.1)
    proc.stop()
    raise RuntimeError(f"API did not start:\n{proc.output()}")


def wait_for(predicate, timeout: float = 20.0, interval: float = 0.1):  # type: ignore[no-untyped-def]
    """Poll predicate until it returns a truthy value; return it, or raise AssertionError."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(interval)
