"""docker-compose.yml and the Dockerfile, checked without a Docker engine.

Every Punctual service runs a Procfile command (same program, app, pool, queues), sets only real settings
(load_settings reads them, and accepts the values), has a health check and a restart policy; the worker
pools together consume every queue; secrets come from the environment, never from the file.
"""

from __future__ import annotations

import ast
import copy
import re
import shlex
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from shared.celery_app import DELIVERY_QUEUES, RUNS_QUEUE
from shared.errors import ConfigError
from shared.settings import REPO_ROOT, Settings, load_settings

COMPOSE = REPO_ROOT / "docker-compose.yml"
PROCFILE = REPO_ROOT / "Procfile"
DOCKERFILE = REPO_ROOT / "Dockerfile"
COMPOSE_ONLY = {"postgres", "redis", "migrate"}
ONE_SHOT = {"migrate"}
# Variables a service may set that Punctual does not read: prometheus-client's, the postgres image's.
OTHER_ENV = {"PROMETHEUS_MULTIPROC_DIR"}
POSTGRES_IMAGE_ENV = {"POSTGRES_USER", "POSTGRES_PASSWORD", "POSTGRES_DB", "PGDATA"}
# What `docker compose up` must be given (README, "Running it in production").
REQUIRED_FROM_SHELL = {"PUNCTUAL_SECRET_KEY", "POSTGRES_PASSWORD", "PUNCTUAL_FLOWER_BASIC_AUTH"}
SHELL = {"PUNCTUAL_SECRET_KEY": "compose-test-secret-key-0123456789", "POSTGRES_PASSWORD": "compose-test-pw",
         "PUNCTUAL_FLOWER_BASIC_AUTH": "ops:compose-test-pw"}
SECRET_NAME = re.compile(r"SECRET|PASSWORD|TOKEN|BASIC_AUTH")
# Command-line options whose values may differ between the Procfile and compose: sizing, names, files.
FREE_OPTIONS = {"--concurrency", "--workers", "--hostname", "--loglevel", "--port", "--address", "--schedule",
                "--access-logfile"}
ALIASES = {"-A": "--app", "-Q": "--queues", "-P": "--pool", "-c": "--concurrency", "-S": "--scheduler",
           "-n": "--hostname", "-l": "--loglevel", "-w": "--workers", "-b": "--bind", "-s": "--schedule"}
FLAGS = {"--no-control-socket", "--without-gossip", "--without-mingle", "--without-heartbeat"}
INTERPOLATION = re.compile(r"\$\$|\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}")


# --- reading the files ---------------------------------------------------------------------------

def interpolate(value: str, shell: Mapping[str, str]) -> str:
    """Compose's interpolation: ${X}, ${X:-default}, ${X-default}, ${X:?error}, and $$ for a literal $."""
    def one(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name, op, arg = match.group("name"), match.group("op"), match.group("arg") or ""
        present = shell.get(name)
        if op in (":-", ":?"):
            present = present or None
        if present is not None:
            return present
        if op and op.endswith("?"):
            raise KeyError(f"{name}: {arg}")
        return arg if op else ""
    return INTERPOLATION.sub(one, value)


def load_compose(path: Path = COMPOSE) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text())  # the safe loader resolves YAML merge keys (<<: *anchor)
    assert isinstance(data, dict) and isinstance(data.get("services"), dict)
    return data


def procfile_commands(path: Path = PROCFILE) -> dict[str, list[str]]:
    lines = [line.partition(":") for line in path.read_text().splitlines() if line.strip() and not line.startswith("#")]
    return {name.strip(): shlex.split(command) for name, _, command in lines}


def command_tokens(command: str | list[str], shell: Mapping[str, str]) -> list[str]:
    """A service's command as the process sees it: compose-interpolated, a `sh -c "exec ..."` unwrapped."""
    tokens = [interpolate(t, shell) for t in (shlex.split(command) if isinstance(command, str) else command)]
    if tokens[:2] == ["sh", "-c"] and len(tokens) == 3:
        tokens = shlex.split(tokens[2])
        tokens = tokens[1:] if tokens[0] == "exec" else tokens
    return tokens


@dataclass
class Parsed:
    program: str
    positional: list[str]
    options: dict[str, str]


def parse_command(tokens: list[str]) -> Parsed:
    positional: list[str] = []
    options: dict[str, str] = {}
    rest = iter(tokens[1:])
    for token in rest:
        name, eq, value = token.partition("=")
        name = ALIASES.get(name, name)
        if not name.startswith("-"):
            positional.append(token)
        elif name in FLAGS:
            options[name] = ""
        else:
            options[name] = value if eq else next(rest, "")
    return Parsed(tokens[0], positional, options)


def setting_names() -> set[str]:
    """Every environment variable load_settings reads."""
    class Reading(dict[str, str]):
        read: set[str] = set()

        def get(self, key: str, default: Any = None) -> Any:
            self.read.add(key)
            return super().get(key, default)

        def __getitem__(self, key: str) -> str:
            self.read.add(key)
            return super().__getitem__(key)

    env = Reading(DATABASE_URL="postgresql://x@h/db", REDIS_URL="redis://h:6379/0", PUNCTUAL_SECRET_KEY="k" * 32,
                  PUNCTUAL_DATA_DIR="/nonexistent")
    load_settings(env)
    return env.read


def graceful_timeout() -> int:
    tree = ast.parse((REPO_ROOT / "api" / "gunicorn_config.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "graceful_timeout" for t in node.targets):
            return int(ast.literal_eval(node.value))
    raise AssertionError("api/gunicorn_config.py sets no graceful_timeout")


def seconds(duration: str | int) -> float:
    if isinstance(duration, int):
        return float(duration)
    parts = re.fullmatch(r"(?:(\d+)m)?(?:(\d+)s)?", duration)
    assert parts and duration, f"not a duration: {duration!r}"
    return int(parts.group(1) or 0) * 60.0 + int(parts.group(2) or 0)


# --- the rules -------------------------------------------------------------------------------------

def command_problems(compose: Parsed, procfile: Parsed) -> list[str]:
    """Why a compose command is not this Procfile command (empty: it is)."""
    if (compose.program, compose.positional) != (procfile.program, procfile.positional):
        return [f"runs {compose.program} {compose.positional}, not {procfile.program} {procfile.positional}"]
    problems = []
    for name in set(compose.options) | set(procfile.options):
        if name == "--queues":
            queues = set(compose.options.get(name, "").split(","))
            if not queues <= set(procfile.options.get(name, "").split(",")):
                problems.append(f"queues {sorted(queues)} are not the Procfile's")
        elif name not in FREE_OPTIONS and compose.options.get(name) != procfile.options.get(name):
            ours, theirs = compose.options.get(name), procfile.options.get(name)
            problems.append(f"{name} {ours!r} where the Procfile has {theirs!r}")
    return problems


def service_env(service: dict[str, Any]) -> dict[str, str]:
    return {str(k): "" if v is None else str(v) for k, v in (service.get("environment") or {}).items()}


def secret_problems(name: str, service: dict[str, Any]) -> list[str]:
    problems = []
    for key, raw in service_env(service).items():
        refs = {m.group("name"): m.group("op") for m in INTERPOLATION.finditer(raw) if m.group("name")}
        if SECRET_NAME.search(key) and raw and key not in refs:
            problems.append(f"{name}: {key} is written into the file instead of taken from ${{{key}}}")
        if key in REQUIRED_FROM_SHELL and refs.get(key) != ":?":
            problems.append(f"{name}: {key} must be ${{{key}:?...}}, so compose refuses to start without it")
        userinfo = re.match(r"[a-z+]+://[^:/@]+:(?P<password>[^@]+)@", raw)
        if userinfo and not INTERPOLATION.fullmatch(userinfo.group("password")):
            problems.append(f"{name}: {key} holds a password; take it from the environment")
    return problems


def env_problems(name: str, service: dict[str, Any], settings_read: set[str]) -> list[str]:
    allowed = settings_read | OTHER_ENV | (POSTGRES_IMAGE_ENV if name == "postgres" else set())
    problems = [f"{name}: {key} is not a setting" for key in service_env(service) if key not in allowed]
    if name not in {"postgres", "redis"}:
        env = {k: interpolate(v, SHELL) for k, v in service_env(service).items()}
        try:
            load_settings({**env, "PUNCTUAL_DATA_DIR": "/nonexistent"})
        except ConfigError as exc:
            problems.append(f"{name}: the settings do not load: {exc}")
    return problems


def compose_problems(compose: dict[str, Any], procfile: dict[str, list[str]]) -> list[str]:
    """Everything wrong with a compose file (empty: nothing)."""
    services: dict[str, dict[str, Any]] = compose["services"]
    settings_read = setting_names()
    problems: list[str] = []
    used_lines: dict[str, list[str]] = {}
    queues: set[str] = set()
    for name, service in services.items():
        if name in ONE_SHOT:
            if service.get("restart") != "no":
                problems.append(f"{name} is one-shot: restart must be \"no\"")
        elif service.get("restart") not in ("always", "unless-stopped", "on-failure"):
            problems.append(f"{name} has no restart policy")
        check = service.get("healthcheck") or {}
        if name not in ONE_SHOT and (not check.get("test") or check.get("disable") or check["test"] == ["NONE"]):
            problems.append(f"{name} has no health check")
        problems += secret_problems(name, service) + env_problems(name, service, settings_read)
        if name in COMPOSE_ONLY:
            continue
        for dependency in ("postgres", "redis", "migrate"):
            condition = (service.get("depends_on") or {}).get(dependency, {}).get("condition")
            wanted = "service_completed_successfully" if dependency == "migrate" else "service_healthy"
            if condition != wanted:
                problems.append(f"{name} must wait for {dependency} ({wanted})")
        if "stop_grace_period" not in service:
            problems.append(f"{name} has no stop_grace_period (docker's 10 s cuts a graceful stop short)")
        problems += _command_problems(name, service, procfile, used_lines, queues)
    every_queue = {RUNS_QUEUE, *DELIVERY_QUEUES.values()}
    if queues != every_queue:
        problems.append(f"queues nobody consumes: {sorted(every_queue - queues)}; "
                        f"unknown: {sorted(queues - every_queue)}")
    if set(used_lines) != set(procfile):
        problems.append(f"Procfile lines no service runs: {sorted(set(procfile) - set(used_lines))}")
    if len(used_lines.get("beat", [])) < 2:
        problems.append("fewer than two beats")
    return problems + _special_problems(services)


def _command_problems(name: str, service: dict[str, Any], procfile: dict[str, list[str]],
                      used_lines: dict[str, list[str]], queues: set[str]) -> list[str]:
    parsed = parse_command(command_tokens(service.get("command") or [], SHELL))
    why = {line: command_problems(parsed, parse_command(tokens)) for line, tokens in procfile.items()}
    matching = [line for line, problems in why.items() if not problems]
    if not matching:
        return [f"{name}'s command is no Procfile line: {why}"]
    used_lines.setdefault(matching[0], []).append(name)
    problems = []
    if parsed.positional == ["worker"]:
        queues.update(parsed.options["--queues"].split(","))
        node = parsed.options.get("--hostname", "").partition("@")[0]
        ping = command_tokens((service.get("healthcheck") or {}).get("test", ["?"])[-1], SHELL)
        destination = ping[ping.index("-d") + 1] if "-d" in ping[:-1] else None
        if destination != f"{node}@$HOSTNAME":
            problems.append(f"{name}'s health check pings {destination}, not its own node {node}@$HOSTNAME")
    env = service_env(service)
    for variable in ("PUNCTUAL_BEAT_METRICS_PORT", "PUNCTUAL_WORKER_METRICS_PORT"):
        if variable not in env:
            continue
        if env.get("PUNCTUAL_METRICS_BIND") != "0.0.0.0":
            problems.append(f"{name}: its exporter listens on 127.0.0.1 inside its container (PUNCTUAL_METRICS_BIND)")
        published = service.get("expose", []) + service.get("ports", [])
        if env[variable] not in {str(p).rpartition(":")[2] for p in published}:
            problems.append(f"{name}: the exporter's port {env[variable]} is not exposed")
    if parsed.positional in (["worker"], ["beat"]) and not any(v in env for v in ("PUNCTUAL_BEAT_METRICS_PORT",
                                                                                    "PUNCTUAL_WORKER_METRICS_PORT")):
        problems.append(f"{name} exports no metrics")
    return problems


def _special_problems(services: dict[str, dict[str, Any]]) -> list[str]:
    problems = []
    redis = " ".join(map(str, services["redis"].get("command") or []))
    on_volume = any(str(v).endswith(":/data") for v in services["redis"].get("volumes", []))
    if "--appendonly yes" not in redis or not on_volume:
        problems.append("redis keeps no append-only file on a volume")
    if not any(str(v).endswith(":/var/lib/postgresql/data") for v in services["postgres"].get("volumes", [])):
        problems.append("postgres keeps its data in the container, not on a volume")
    api = services["api"]
    if service_env(api).get("HOST") != "0.0.0.0":
        problems.append("api: HOST must be 0.0.0.0 inside its container, or the published port cannot reach it")
    if seconds(api.get("stop_grace_period", "10s")) <= graceful_timeout():
        problems.append(f"api: stop_grace_period must be above gunicorn's graceful_timeout ({graceful_timeout()} s)")
    # A batch in flight whose sends hang until the read timeout must still be able to finish.
    defaults = Settings(database_url="", redis_url="", secret_key="")
    one_slow_send = defaults.http_connect_timeout_s + defaults.http_read_timeout_s
    for name, service in services.items():
        tokens = command_tokens(service.get("command") or [], SHELL)
        if "worker" in tokens and seconds(service.get("stop_grace_period", "10s")) <= one_slow_send:
            problems.append(f"{name}: stop_grace_period must be above one slow send ({one_slow_send:.0f} s)")
    return problems


# --- the tests -----------------------------------------------------------------------------------

@pytest.fixture()
def compose() -> dict[str, Any]:
    return load_compose()


@pytest.fixture(scope="module")
def procfile() -> dict[str, list[str]]:
    return procfile_commands()


def test_compose_file_runs_the_procfile_with_real_settings(compose: dict[str, Any],
                                                           procfile: dict[str, list[str]]) -> None:
    assert compose_problems(compose, procfile) == []
    assert set(procfile) == {"web", "beat", "worker", "deliver", "flower"}


def test_compose_refuses_to_start_without_the_secrets(compose: dict[str, Any]) -> None:
    for missing in REQUIRED_FROM_SHELL:
        shell = {k: v for k, v in SHELL.items() if k != missing}
        with pytest.raises(KeyError, match=missing):
            for service in compose["services"].values():
                for value in service_env(service).values():
                    interpolate(value, shell)


def _drop_queue(compose: dict[str, Any]) -> None:
    command = compose["services"]["deliver-sftp"]["command"]
    compose["services"]["deliver-sftp"]["command"] = [t.replace("deliver.sftp", "deliver.email") for t in command]


def _misspell_setting(compose: dict[str, Any]) -> None:
    env = compose["services"]["deliver-email"]["environment"]
    env["PUNCTUAL_SMTP_PROT"] = env.pop("PUNCTUAL_SMTP_PORT")


def _hard_code_secret(compose: dict[str, Any]) -> None:
    compose["services"]["api"]["environment"]["PUNCTUAL_SECRET_KEY"] = "a-secret-written-into-the-file"


def _drop_health_check(compose: dict[str, Any]) -> None:
    del compose["services"]["beat-2"]["healthcheck"]


def _other_pool(compose: dict[str, Any]) -> None:
    command = compose["services"]["runs"]["command"]
    compose["services"]["runs"]["command"] = [{"prefork": "threads"}.get(t, t) for t in command]


def _bad_value(compose: dict[str, Any]) -> None:
    compose["services"]["runs"]["environment"]["PUNCTUAL_WORKER_METRICS_PORT"] = "ninety"


def _short_grace(compose: dict[str, Any]) -> None:
    compose["services"]["api"]["stop_grace_period"] = "20s"


@pytest.mark.parametrize(("change", "problem"), [
    (_drop_queue, "queues nobody consumes: ['deliver.sftp']"),
    (_misspell_setting, "deliver-email: PUNCTUAL_SMTP_PROT is not a setting"),
    (_hard_code_secret, "api: PUNCTUAL_SECRET_KEY is written into the file"),
    (_drop_health_check, "beat-2 has no health check"),
    (_other_pool, "runs's command is no Procfile line"),
    (_bad_value, "runs: the settings do not load: PUNCTUAL_WORKER_METRICS_PORT must be an integer"),
    (_short_grace, "api: stop_grace_period must be above gunicorn's graceful_timeout"),
])
def test_compose_check_finds_what_breaks(compose: dict[str, Any], procfile: dict[str, list[str]],
                                         change: Any, problem: str) -> None:
    broken = copy.deepcopy(compose)
    change(broken)
    problems = compose_problems(broken, procfile)
    assert any(p.startswith(problem) for p in problems), problems


def test_image_installs_every_package_with_its_data() -> None:
    dockerfile = DOCKERFILE.read_text()
    copied = {source for line in dockerfile.splitlines() if line.startswith("COPY ") for source in line.split()[1:-1]}
    pyproject = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
    packages = {p.rstrip("*") for p in pyproject["tool"]["setuptools"]["packages"]["find"]["include"]}
    assert packages | {"pyproject.toml", "README.md", "gunicorn.conf.py"} <= copied
    assert re.search(r"pip install [^\n]*\.\s", dockerfile), "the image must install the project itself"
    # pip install . carries only declared package data: the PDF/PNG fonts and the migrations must be.
    package_data = pyproject["tool"]["setuptools"]["package-data"]
    for package, folder in (("workers", "fonts"), ("shared", "migrations")):
        files = [p for p in (REPO_ROOT / package / folder).iterdir() if p.is_file()]
        assert files
        for path in files:
            relative = path.relative_to(REPO_ROOT / package)
            assert any(relative.match(glob) for glob in package_data[package]), f"{relative} is not package data"
