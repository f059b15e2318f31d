"""Structured logs: one JSON event a line with the ids in context, plain text for a terminal, no secret ever."""

from __future__ import annotations

import io
import json
import logging
import uuid
from collections.abc import Iterator
from dataclasses import replace

import pytest

from shared.errors import ConfigError
from shared.logs import configure_logging, log_context, make_formatter, redact
from shared.settings import Settings, load_settings

SETTINGS = Settings("postgresql://punctual:db-pass-123@db.internal:5432/punctual", "redis://:redis-pass-456@r:6379/0",
                    "the-secret-key-0123456789", smtp_password="smtp-pass-789")
SECRETS = ("db-pass-123", "redis-pass-456", "the-secret-key-0123456789", "smtp-pass-789")


@pytest.fixture()
def capture() -> Iterator[tuple[logging.Logger, io.StringIO, list[str]]]:
    """A logger whose events go through the JSON formatter into a buffer."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(make_formatter("json", "worker"))
    log = logging.getLogger(f"punctual.test.{uuid.uuid4().hex}")
    log.addHandler(handler)
    log.setLevel(logging.DEBUG)
    log.propagate = False
    lines: list[str] = []
    yield log, stream, lines
    log.removeHandler(handler)


def _events(stream: io.StringIO) -> list[dict]:
    lines = stream.getvalue().splitlines()
    return [json.loads(line) for line in lines]  # every line is one whole JSON event


def test_an_event_is_one_json_line_with_time_level_logger_and_message(capture) -> None:
    log, stream, _ = capture
    log.warning("delivery %s failed:\n%s", "abc", "second line")
    [event] = _events(stream)
    assert event["level"] == "WARNING"
    assert event["logger"] == log.name
    assert event["process"] == "worker"
    assert event["message"] == "delivery abc failed:\nsecond line"
    assert event["time"].endswith("Z") and "T" in event["time"]


def test_ids_come_from_the_context_and_from_extra(capture) -> None:
    log, stream, _ = capture
    run_id, org = uuid.uuid4(), uuid.uuid4()
    with log_context(organization_id=org, run_id=run_id, schedule_id=None):
        log.info("run started")
        with log_context(delivery_id="d-1"):
            log.info("delivery sent", extra={"kind": "webhook", "duration_ms": 12.5})
    log.info("outside", extra={"run_id": "r-9"})
    first, second, third = _events(stream)
    assert first["run_id"] == str(run_id) and first["organization_id"] == str(org)
    assert "schedule_id" not in first and "delivery_id" not in first
    assert second["delivery_id"] == "d-1" and second["run_id"] == str(run_id)
    assert second["kind"] == "webhook" and second["duration_ms"] == 12.5
    assert third["run_id"] == "r-9" and "organization_id" not in third


def test_no_secret_reaches_the_output(capture) -> None:
    log, stream, _ = capture
    token = "pk_" + "A1b2C3d4" * 4
    log.info("connecting to %s and %s", SETTINGS.database_url, SETTINGS.redis_url)
    log.info("settings: %s", SETTINGS)  # a Settings object logged by mistake
    log.info("request with Authorization: Bearer %s", token)
    log.info("sftp login password=%s; slack https://hooks.slack.com/services/T01/B02/abcSECRETdef", "sftp-pw-1")
    log.info("config %s", json.dumps({"api_key": "key-abc-999", "secret": "whsec_c2VjcmV0"}))
    log.info("object in extra", extra={"settings": SETTINGS, "run_id": SETTINGS, "password": "extra-pw"})
    try:
        raise RuntimeError(f"cannot reach {SETTINGS.database_url}")
    except RuntimeError:
        log.exception("failed")
    out = stream.getvalue()
    for secret in (*SECRETS, token, "sftp-pw-1", "abcSECRETdef", "key-abc-999", "c2VjcmV0", "extra-pw"):
        assert secret not in out, secret
    events = _events(stream)
    assert len(events) == 7
    assert "postgresql://punctual:***@db.internal:5432/punctual" in events[0]["message"]
    assert "run_id" not in events[5] and "settings" not in events[5]  # objects are never dumped
    assert "RuntimeError" in events[6]["exception"]


def test_redact_leaves_ordinary_text_alone() -> None:
    for text in ("Invalid or revoked token", "tokens create --org 1", "GET /v1/schedules 200",
                 "claimed=5 runs=5 lag=0.010s", "https://example.com/hook?page=2"):
        assert redact(text) == text


def test_text_format_is_a_plain_line_with_the_ids_and_no_secret() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(make_formatter("text", "beat"))
    log = logging.getLogger("punctual.test.text")
    log.addHandler(handler)
    log.propagate = False
    try:
        with log_context(schedule_id="s-1"):
            log.warning("broker %s unavailable", "amqp://guest:rabbit-pw@127.0.0.1:5672//")
    finally:
        log.removeHandler(handler)
    line = stream.getvalue().strip()
    assert not line.startswith("{")
    assert "WARNING" in line and "punctual.test.text: broker amqp://guest:***@127.0.0.1:5672// unavailable" in line
    assert line.endswith("schedule_id=s-1")
    assert "rabbit-pw" not in line


def test_configure_logging_twice_prints_each_event_once() -> None:
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    stream = io.StringIO()
    try:
        configure_logging(SETTINGS, "api", stream=stream)
        configure_logging(replace(SETTINGS, log_format="json"), "api", stream=stream)
        logging.getLogger("punctual.api").info("once")
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
    assert [e["message"] for e in _events(stream)] == ["once"]


def test_log_format_and_broker_settings_are_parsed_strictly() -> None:
    env = {"DATABASE_URL": "postgresql://x", "REDIS_URL": "redis://r:6379/0", "PUNCTUAL_SECRET_KEY": "k" * 20}
    settings = load_settings(env)
    assert (settings.log_format, settings.broker_url, settings.metrics_token) == ("json", "redis://r:6379/0", None)
    assert load_settings({**env, "PUNCTUAL_LOG_FORMAT": "TEXT"}).log_format == "text"
    assert load_settings({**env, "BROKER_URL": "amqp://guest:guest@127.0.0.1:5672//"}).broker_url.startswith("amqp")
    assert load_settings({**env, "PUNCTUAL_BEAT_METRICS_PORT": "9464"}).beat_metrics_port == 9464
    for name, value, message in (
            ("PUNCTUAL_LOG_FORMAT", "xml", "PUNCTUAL_LOG_FORMAT must be one of json, text"),
            ("BROKER_URL", "kafka://k:9092", "BROKER_URL must be a redis://"),
            ("PUNCTUAL_METRICS_TOKEN", "short", "PUNCTUAL_METRICS_TOKEN must be at least 16"),
            ("PUNCTUAL_BEAT_METRICS_PORT", "70000", "PUNCTUAL_BEAT_METRICS_PORT must be a TCP port"),
            ("PUNCTUAL_WORKER_METRICS_PORT", "x", "PUNCTUAL_WORKER_METRICS_PORT must be an integer")):
        with pytest.raises(ConfigError, match=message):
            load_settings({**env, name: value})
