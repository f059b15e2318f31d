"""What the Procfile starts binds loopback unless told otherwise, and Flower needs a password outside `punctual dev`."""

from __future__ import annotations

import os
import re
from pathlib import Path

import requests

from api.embedded import free_port
from shared.settings import REPO_ROOT, Settings
from tests.processes import BIN, Process, settings_env, wait_for


def _procfile_line(name: str) -> str:
    for line in (REPO_ROOT / "Procfile").read_text().splitlines():
        if line.startswith(f"{name}:"):
            return line.split(":", 1)[1].strip()
    raise AssertionError(f"no {name} line in the Procfile")


def _start(name: str, settings: Settings, log_dir: Path, **extra: str) -> Process:
    env = settings_env(settings, **extra)
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    return Process(name, ["sh", "-c", _procfile_line(name)], env, log_dir)


def _listening(proc: Process) -> str:
    found = wait_for(lambda: re.search(r"Listening at: (\S+)", proc.output()) or (not proc.alive() and "exited"),
                     timeout=30)
    assert found != "exited", proc.output()
    return found.group(1)  # type: ignore[union-attr]


def test_web_binds_loopback_unless_host_says_otherwise(settings: Settings, log_dir: Path) -> None:
    port = free_port()
    web = _start("web", settings, log_dir, PORT=str(port))
    try:
        assert _listening(web) == f"http://127.0.0.1:{port}"
    finally:
        web.stop()
    port = free_port()
    web = _start("web", settings, log_dir, PORT=str(port), HOST="0.0.0.0")
    try:
        assert _listening(web) == f"http://0.0.0.0:{port}"
    finally:
        web.stop()


def test_flower_needs_basic_auth_outside_development(settings: Settings, log_dir: Path) -> None:
    refused = _start("flower", settings, log_dir, FLOWER_PORT=str(free_port()))
    wait_for(lambda: not refused.alive(), timeout=30)
    assert refused.proc.returncode == 2 and "PUNCTUAL_FLOWER_BASIC_AUTH=user:password is required" in refused.output()

    port = free_port()
    flower = _start("flower", settings, log_dir, FLOWER_PORT=str(port), PUNCTUAL_FLOWER_BASIC_AUTH="ops:s3cret-pw")
    try:
        base = f"http://127.0.0.1:{port}"
        wait_for(lambda: _get(f"{base}/healthcheck") == 200 or not flower.alive(), timeout=30)
        assert flower.alive(), flower.output()
        assert _get(f"{base}/") == 401
        assert requests.get(f"{base}/", auth=("ops", "s3cret-pw"), timeout=5).status_code == 200
        # The password travels in the environment, not on a command line that `ps` shows to every local user.
        command_lines = _group_command_lines(flower.proc.pid)
        assert any(b"flower" in line for line in command_lines)
        assert not any(b"s3cret-pw" in line for line in command_lines)
    finally:
        flower.stop()


def test_punctual_dev_runs_flower_without_auth_on_loopback_only(settings: Settings, log_dir: Path) -> None:
    env = {"PUNCTUAL_DEV": "1"}
    public = Process("flower-public", [str(BIN / "punctual"), "flower", "--address", "0.0.0.0", "--port",
                                       str(free_port())], settings_env(settings, **env), log_dir)
    wait_for(lambda: not public.alive(), timeout=30)
    assert public.proc.returncode == 2, public.output()
    port = free_port()
    flower = _start("flower", settings, log_dir, FLOWER_PORT=str(port), **env)
    try:
        wait_for(lambda: _get(f"http://127.0.0.1:{port}/") == 200 or not flower.alive(), timeout=30)
        assert flower.alive(), flower.output()
    finally:
        flower.stop()


def _get(url: str) -> int | None:
    try:
        return requests.get(url, timeout=2).status_code
    except requests.RequestException:
        return None


def _group_command_lines(pgid: int) -> list[bytes]:
    lines = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[2]) == pgid:
                lines.append((stat.parent / "cmdline").read_bytes())
        except (OSError, IndexError, ValueError):
            continue
    return lines
