"""`punctual dev`: embedded services when needed, migrate, then the Procfile under honcho."""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
from pathlib import Path

from api.embedded import start_postgres, start_redis
from shared.settings import REPO_ROOT, embedded_services_file


def prepare_environment(env: dict[str, str]) -> tuple[dict[str, str], list[subprocess.Popen[bytes]]]:
    """Fill DATABASE_URL, REDIS_URL and PUNCTUAL_SECRET_KEY from embedded services when unset."""
    services_file = embedded_services_file(env)
    data_dir = services_file.parent
    started: list[subprocess.Popen[bytes]] = []
    recorded: dict[str, str] = {}
    if not env.get("DATABASE_URL"):
        recorded["DATABASE_URL"] = start_postgres(data_dir / "pg")
        print(f"embedded PostgreSQL: {recorded['DATABASE_URL']}", flush=True)
    if not env.get("REDIS_URL"):
        url, proc = start_redis(data_dir / "redis")
        started.append(proc)
        recorded["REDIS_URL"] = url
        print(f"embedded Redis: {url}", flush=True)
    if not env.get("PUNCTUAL_SECRET_KEY"):
        key_file = data_dir / "secret_key"
        if not key_file.exists():
            data_dir.mkdir(parents=True, exist_ok=True)
            key_file.write_text(secrets.token_urlsafe(32))
            key_file.chmod(0o600)
        recorded["PUNCTUAL_SECRET_KEY"] = key_file.read_text().strip()
    if recorded:
        data_dir.mkdir(parents=True, exist_ok=True)
        services_file.write_text(json.dumps(recorded, indent=2))
        services_file.chmod(0o600)
    return {**env, **recorded}, started


def run_dev(port: int | None = None, flower_port: int = 5555) -> int:
    """Start everything from the Procfile and wait; returns honcho's exit code."""
    env, started = prepare_environment(dict(os.environ))
    bin_dir = str(Path(sys.executable).parent)
    env["PATH"] = bin_dir + os.pathsep + env.get("PATH", "")
    api_port = port or int(env.get("PORT", "8000"))
    env["FLOWER_PORT"] = str(flower_port)
    env["PUNCTUAL_DEV"] = "1"  # lets `punctual flower` run without basic auth, on 127.0.0.1 only
    env.setdefault("PUNCTUAL_LOG_FORMAT", "text")  # a terminal, not a log shipper
    try:
        subprocess.run([sys.executable, "-m", "api.cli", "migrate"], env=env, check=True)
        print(f"\nPunctual API: http://127.0.0.1:{api_port}/v1  (docs: http://127.0.0.1:{api_port}/v1/docs)")
        print(f"Flower:       http://127.0.0.1:{flower_port}\n", flush=True)
        honcho = subprocess.Popen(
            [os.path.join(bin_dir, "honcho"), "-f", str(REPO_ROOT / "Procfile"), "-d", str(REPO_ROOT),
             "start", "-p", str(api_port)],
            env=env,
        )
        stopped: list[int] = []

        def forward(signum: int, _frame: object) -> None:
            # Ctrl-C, `kill` or a closed terminal: let honcho stop every process cleanly, then
            # fall through to stopping the embedded Redis below.
            stopped.append(signum)
            honcho.send_signal(signal.SIGTERM if signum != signal.SIGINT else signal.SIGINT)

        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, forward)
        code = honcho.wait()
        return 0 if stopped else code  # asked to stop: a clean exit, not an error
    finally:
        for proc in started:
            proc.terminate()
            proc.wait(timeout=10)
        if started:
            # Redis is gone; forget its URL but keep the database (it persists under .data).
            services_file = embedded_services_file(env)
            try:
                data = json.loads(services_file.read_text())
                data.pop("REDIS_URL", None)
                services_file.write_text(json.dumps(data, indent=2))
            except (OSError, ValueError):
                pass
