"""Settings: one frozen dataclass built once from the environment, strictly parsed."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from limits import parse_many

from shared.cron import DEFAULT_SLOTS, SlotRules
from shared.data_sources import NAME_PATTERN, DataSourceGrant, parse_endpoint, same_database
from shared.errors import ConfigError, InvalidInput

BROKER_SCHEMES = ("redis", "rediss", "amqp", "amqps", "pyamqp")
REPO_ROOT = Path(__file__).resolve().parent.parent
SMTP_TLS_MODES = ("none", "starttls", "ssl")
LOG_FORMATS = ("json", "text")


@dataclass(frozen=True)
class Settings:
    database_url: str
    redis_url: str
    # Kept out of repr: a Settings object printed or logged by mistake must not carry them.
    secret_key: str = field(repr=False)
    port: int = 8000
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 25
    smtp_username: str | None = None
    smtp_password: str | None = field(default=None, repr=False)
    smtp_tls: str = "none"
    mail_from: str = "punctual@localhost"
    outbound_allowlist: tuple[str, ...] = ()
    send_slots: SlotRules = DEFAULT_SLOTS
    db_pool_min: int = 1
    db_pool_max: int = 10
    api_db_timeout_s: float = 5.0
    beat_max_sleep_s: float = 5.0
    beat_batch_size: int = 1000
    beat_publish_batch: int = 500
    beat_republish_after_s: float = 300.0
    beat_broker_timeout_s: float = 2.0
    misfire_run_all_cap: int = 100
    max_body_bytes: int = 1_048_576
    rate_limit: str = "600 per minute"
    http_connect_timeout_s: float = 5.0
    http_read_timeout_s: float = 30.0
    consecutive_failures_to_disable: int = 10
    data_sources: Mapping[str, DataSourceGrant] = field(default_factory=dict)
    public_url: str = "http://127.0.0.1:8000"
    retry_sweep_interval_s: float = 5.0
    runs_per_message: int = 100
    subscribers_per_chunk: int = 100
    deliveries_per_message: int = 100
    delivery_concurrency: int = 16
    worker_heartbeat_interval_s: float = 5.0
    worker_dead_after_s: float = 20.0
    republish_after_s: float = 300.0
    broker_visibility_timeout_s: float = 30.0
    command_time_limit_s: float = 120.0
    task_time_limit_s: float = 1800.0
    command_max_output_bytes: int = 50 * 1024 * 1024
    host: str = "127.0.0.1"
    auth_failure_limit: str = "20 per minute"
    quota_schedules: int = 10_000
    quota_recipients_per_schedule: int = 1_000
    quota_runs_triggered_per_hour: int = 1_000
    quota_deliveries_per_hour: int = 100_000
    flower_basic_auth: str | None = None
    dev_mode: bool = False
    # The Celery broker; REDIS_URL unless BROKER_URL names another (amqp:// for RabbitMQ).
    # Redis stays needed either way: the API's rate limits live there.
    broker_url: str = ""
    log_format: str = "json"
    metrics_token: str | None = field(default=None, repr=False)
    beat_metrics_port: int | None = None
    worker_metrics_port: int | None = None
    metrics_bind: str = "127.0.0.1"

    def __post_init__(self) -> None:
        if not self.broker_url:  # Settings built in code (tests) name only redis_url
            object.__setattr__(self, "broker_url", self.redis_url)


def embedded_services_file(env: Mapping[str, str] | None = None) -> Path:
    """Where `make run`/`make test` record the URLs of the embedded servers they started."""
    env = os.environ if env is None else env
    data_dir = Path(env.get("PUNCTUAL_DATA_DIR") or REPO_ROOT / ".data")
    return data_dir / "services.json"


def _embedded_defaults(env: Mapping[str, str]) -> dict[str, str]:
    # `punctual` commands run from this checkout while `make run` is up find the embedded
    # PostgreSQL and Redis (and the dev secret) here, so they need no setup of their own.
    path = embedded_services_file(env)
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return {k: str(v) for k, v in data.items() if isinstance(k, str)}


def _int(env: Mapping[str, str], name: str, default: int, minimum: int = 0) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from None
    if value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}, got {value}")
    return value


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number, got {raw!r}") from None
    if value <= 0:
        raise ConfigError(f"{name} must be positive, got {value}")
    return value


_DATA_SOURCES_FORMAT = ('PUNCTUAL_DATA_SOURCES must be a JSON object {"name": {"url": "postgresql://...", '
                        '"organizations": ["<organization id>", ...] or "*"}}')


def _data_sources(env: Mapping[str, str], database_url: str) -> dict[str, DataSourceGrant]:
    raw = env.get("PUNCTUAL_DATA_SOURCES")
    if not raw:
        return {}
    try:
        value = json.loads(raw)
    except ValueError:
        raise ConfigError(_DATA_SOURCES_FORMAT) from None
    if not isinstance(value, dict):
        raise ConfigError(_DATA_SOURCES_FORMAT)
    grants: dict[str, DataSourceGrant] = {}
    for name, entry in value.items():
        grants[name] = _data_source_grant(name, entry, database_url)
    return grants


def _data_source_grant(name: str, entry: object, database_url: str) -> DataSourceGrant:
    # A bare URL granted nothing to anybody before organizations were asked for: say so at start
    # rather than leave every tenant able to query it.
    if not NAME_PATTERN.match(name) or not isinstance(entry, dict) or not isinstance(entry.get("url"), str):
        raise ConfigError(f"{_DATA_SOURCES_FORMAT}; {name!r} is not")
    orgs = entry.get("organizations")
    if orgs == "*":
        organizations = frozenset({"*"})
    elif isinstance(orgs, list) and all(isinstance(o, str) for o in orgs):
        organizations = frozenset(o.strip().lower() for o in orgs)
    else:
        raise ConfigError(f"PUNCTUAL_DATA_SOURCES[{name!r}].organizations must be a list of organization ids or \"*\"")
    try:
        own = same_database(parse_endpoint(entry["url"]), parse_endpoint(database_url))
    except InvalidInput:
        raise ConfigError(f"PUNCTUAL_DATA_SOURCES[{name!r}].url is not a valid PostgreSQL URL") from None
    if own:
        raise ConfigError(f"PUNCTUAL_DATA_SOURCES[{name!r}] is Punctual's own DATABASE_URL, which is never a "
                          "data source")
    return DataSourceGrant(entry["url"], organizations)


def _rate_limit(env: Mapping[str, str], name: str, default: str) -> str:
    raw = (env.get(name) or "").strip() or default
    try:
        parse_many(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a rate such as '600 per minute' or '10/second', got {raw!r}") from None
    return raw


def _flag(env: Mapping[str, str], name: str) -> bool:
    raw = (env.get(name) or "0").strip()
    if raw not in ("0", "1"):
        raise ConfigError(f"{name} must be 0 or 1, got {raw!r}")
    return raw == "1"


def _host(env: Mapping[str, str]) -> str:
    raw = (env.get("HOST") or "").strip() or "127.0.0.1"
    if not re.fullmatch(r"[A-Za-z0-9.:\[\]-]{1,255}", raw):
        raise ConfigError(f"HOST must be an address to bind such as 127.0.0.1 or 0.0.0.0, got {raw!r}")
    return raw


def _basic_auth(env: Mapping[str, str], name: str) -> str | None:
    raw = (env.get(name) or "").strip()
    if not raw:
        return None
    # Flower takes a comma-separated list of user:password pairs; an empty half would let anybody in.
    for pair in raw.split(","):
        user, colon, password = pair.partition(":")
        if not colon or not user or not password:
            raise ConfigError(f"{name} must be user:password (comma-separated for several users)")
    return raw

def _optional_port(env: Mapping[str, str], name: str) -> int | None:
    if not env.get(name):
        return None
    port = _int(env, name, 0, minimum=1)
    if port > 65535:
        raise ConfigError(f"{name} must be a TCP port (1-65535), got {port}")
    return port


def _broker_url(env: Mapping[str, str], redis_url: str) -> str:
    url = env.get("BROKER_URL") or redis_url
    scheme = url.partition("://")[0].lower()
    if scheme not in BROKER_SCHEMES:
        raise ConfigError(f"BROKER_URL must be a redis://, rediss:// or amqp:// URL, got scheme {scheme!r}")
    return url


def _required(env: Mapping[str, str], fallback: Mapping[str, str], name: str) -> str:
    value = env.get(name) or fallback.get(name)
    if not value:
        raise ConfigError(
            f"{name} is not set (export it, or start the embedded services with `make run`)"
        )
    return value


_RENAMED = {
    "PUNCTUAL_RUN_CHUNK_SIZE": "set PUNCTUAL_RUNS_PER_MESSAGE (run ids per execute message) instead",
    "PUNCTUAL_DELIVERY_LEASE": "work held by a dead worker is taken up PUNCTUAL_WORKER_DEAD_AFTER seconds after "
                               "its last heartbeat; a live worker's work is never taken over",
}


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Build Settings from the environment; raises ConfigError naming the bad variable."""
    env = os.environ if env is None else env
    fallback = _embedded_defaults(env)
    secret_key = _required(env, fallback, "PUNCTUAL_SECRET_KEY")
    if len(secret_key) < 16:
        raise ConfigError("PUNCTUAL_SECRET_KEY must be at least 16 characters")
    smtp_tls = env.get("PUNCTUAL_SMTP_TLS", "none").lower()
    if smtp_tls not in SMTP_TLS_MODES:
        raise ConfigError(f"PUNCTUAL_SMTP_TLS must be one of {', '.join(SMTP_TLS_MODES)}, got {smtp_tls!r}")
    allowlist = tuple(
        item.strip() for item in env.get("PUNCTUAL_OUTBOUND_ALLOWLIST", "").split(",") if item.strip()
    )
    port = _int(env, "PORT", 8000, minimum=1)
    database_url = _required(env, fallback, "DATABASE_URL")
    for old, new in _RENAMED.items():
        if env.get(old):
            raise ConfigError(f"{old} is gone: {new}")
    heartbeat = _float(env, "PUNCTUAL_WORKER_HEARTBEAT_INTERVAL", 5.0)
    dead_after = _float(env, "PUNCTUAL_WORKER_DEAD_AFTER", 20.0)
    if dead_after < 2 * heartbeat:
        # A worker missing one heartbeat (a slow commit, a GC pause) must not look dead.
        raise ConfigError("PUNCTUAL_WORKER_DEAD_AFTER must be at least twice PUNCTUAL_WORKER_HEARTBEAT_INTERVAL")
    redis_url = _required(env, fallback, "REDIS_URL")
    log_format = env.get("PUNCTUAL_LOG_FORMAT", "json").lower() or "json"
    if log_format not in LOG_FORMATS:
        raise ConfigError(f"PUNCTUAL_LOG_FORMAT must be one of {', '.join(LOG_FORMATS)}, got {log_format!r}")
    metrics_token = env.get("PUNCTUAL_METRICS_TOKEN") or None
    if metrics_token is not None and len(metrics_token) < 16:
        raise ConfigError("PUNCTUAL_METRICS_TOKEN must be at least 16 characters")
    return Settings(
        database_url=database_url,
        redis_url=redis_url,
        secret_key=secret_key,
        port=port,
        smtp_host=env.get("PUNCTUAL_SMTP_HOST", "127.0.0.1"),
        smtp_port=_int(env, "PUNCTUAL_SMTP_PORT", 25, minimum=1),
        smtp_username=env.get("PUNCTUAL_SMTP_USERNAME") or None,
        smtp_password=env.get("PUNCTUAL_SMTP_PASSWORD") or None,
        smtp_tls=smtp_tls,
        mail_from=env.get("PUNCTUAL_MAIL_FROM", "punctual@localhost"),
        outbound_allowlist=allowlist,
        db_pool_min=_int(env, "PUNCTUAL_DB_POOL_MIN", 1),
        db_pool_max=_int(env, "PUNCTUAL_DB_POOL_MAX", 10, minimum=1),
        api_db_timeout_s=_float(env, "PUNCTUAL_API_DB_TIMEOUT", 5.0),
        beat_max_sleep_s=_float(env, "PUNCTUAL_BEAT_MAX_SLEEP", 5.0),
        beat_batch_size=_int(env, "PUNCTUAL_BEAT_BATCH_SIZE", 1000, minimum=1),
        beat_publish_batch=_int(env, "PUNCTUAL_BEAT_PUBLISH_BATCH", 500, minimum=1),
        beat_republish_after_s=_float(env, "PUNCTUAL_BEAT_REPUBLISH_AFTER", 300.0),
        beat_broker_timeout_s=_float(env, "PUNCTUAL_BEAT_BROKER_TIMEOUT", 2.0),
        misfire_run_all_cap=_int(env, "PUNCTUAL_MISFIRE_RUN_ALL_CAP", 100, minimum=1),
        max_body_bytes=_int(env, "PUNCTUAL_MAX_BODY_BYTES", 1_048_576, minimum=1024),
        rate_limit=_rate_limit(env, "PUNCTUAL_RATE_LIMIT", "600 per minute"),
        http_connect_timeout_s=_float(env, "PUNCTUAL_HTTP_CONNECT_TIMEOUT", 5.0),
        http_read_timeout_s=_float(env, "PUNCTUAL_HTTP_READ_TIMEOUT", 30.0),
        consecutive_failures_to_disable=_int(env, "PUNCTUAL_DISABLE_AFTER_FAILURES", 10, minimum=1),
        data_sources=_data_sources(env, database_url),
        public_url=env.get("PUNCTUAL_PUBLIC_URL", f"http://127.0.0.1:{port}"),
        retry_sweep_interval_s=_float(env, "PUNCTUAL_RETRY_SWEEP_INTERVAL", 5.0),
        send_slots=SlotRules(grid_s=_int(env, "PUNCTUAL_SEND_SLOT_SECONDS", 900, minimum=1),
                             lead_s=_int(env, "PUNCTUAL_SEND_MIN_LEAD_SECONDS", 900)),
        runs_per_message=_int(env, "PUNCTUAL_RUNS_PER_MESSAGE", 100, minimum=1),
        subscribers_per_chunk=_int(env, "PUNCTUAL_SUBSCRIBERS_PER_CHUNK", 100, minimum=1),
        deliveries_per_message=_int(env, "PUNCTUAL_DELIVERIES_PER_MESSAGE", 100, minimum=1),
        delivery_concurrency=_int(env, "PUNCTUAL_DELIVERY_CONCURRENCY", 16, minimum=1),
        worker_heartbeat_interval_s=heartbeat,
        worker_dead_after_s=dead_after,
        republish_after_s=_float(env, "PUNCTUAL_REPUBLISH_AFTER", 300.0),
        broker_visibility_timeout_s=_float(env, "PUNCTUAL_BROKER_VISIBILITY_TIMEOUT", 30.0),
        command_time_limit_s=_float(env, "PUNCTUAL_COMMAND_TIME_LIMIT", 120.0),
        task_time_limit_s=_float(env, "PUNCTUAL_TASK_TIME_LIMIT", 1800.0),
        command_max_output_bytes=_int(env, "PUNCTUAL_COMMAND_MAX_OUTPUT_BYTES", 50 * 1024 * 1024, minimum=1024),
        host=_host(env),
        auth_failure_limit=_rate_limit(env, "PUNCTUAL_AUTH_FAILURE_LIMIT", "20 per minute"),
        # 0 turns a quota off.
        quota_schedules=_int(env, "PUNCTUAL_QUOTA_SCHEDULES", 10_000),
        quota_recipients_per_schedule=_int(env, "PUNCTUAL_QUOTA_RECIPIENTS_PER_SCHEDULE", 1_000),
        quota_runs_triggered_per_hour=_int(env, "PUNCTUAL_QUOTA_RUNS_TRIGGERED_PER_HOUR", 1_000),
        quota_deliveries_per_hour=_int(env, "PUNCTUAL_QUOTA_DELIVERIES_PER_HOUR", 100_000),
        flower_basic_auth=_basic_auth(env, "PUNCTUAL_FLOWER_BASIC_AUTH"),
        dev_mode=_flag(env, "PUNCTUAL_DEV"),
        broker_url=_broker_url(env, redis_url),
        log_format=log_format,
        metrics_token=metrics_token,
        beat_metrics_port=_optional_port(env, "PUNCTUAL_BEAT_METRICS_PORT"),
        worker_metrics_port=_optional_port(env, "PUNCTUAL_WORKER_METRICS_PORT"),
        metrics_bind=env.get("PUNCTUAL_METRICS_BIND", "127.0.0.1") or "127.0.0.1",
    )
