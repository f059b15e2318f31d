"""Logging for every process: one JSON event per line (or plain text in development), secrets redacted.

Each process calls configure_logging once at start (the API from its WSGI module and gunicorn's
config, beat and workers from Celery's setup_logging signal through connect_celery_logging).
Code that works on a run, schedule, delivery or organization wraps it in log_context(...) or
passes the ids in `extra=`; every event logged inside carries them.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any, TextIO
from uuid import UUID

from shared.settings import Settings

# The ids an event may carry, from log_context or `extra=`, in the order they are printed.
ID_FIELDS = ("organization_id", "schedule_id", "run_id", "delivery_id")
# Other `extra=` keys printed when their value is a plain scalar. Anything else passed in
# `extra=` is dropped, never repr()'d: an object's repr is where secrets leak from.
EXTRA_FIELDS = ("beat_id", "queue", "kind", "count", "http_method", "http_path", "http_status", "duration_ms",
                "remote_addr")
_SCALARS = (str, int, float, bool, UUID)

_context: ContextVar[Mapping[str, str]] = ContextVar("punctual_log_context", default=MappingProxyType({}))

_REDACTIONS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?(-----END [A-Z ]*PRIVATE KEY-----|$)", re.S),
     "[private key redacted]"),
    # user:password@ in any URL (database, broker, data source, SFTP).
    (re.compile(r"([A-Za-z][A-Za-z0-9+.-]*://[^/\s:@]*):[^@\s/]*@"), r"\1:***@"),
    (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]+"), r"\1 ***"),
    (re.compile(r"\bpk_[A-Za-z0-9_-]{6,}"), "pk_***"),  # Punctual API tokens
    (re.compile(r"\bwhsec_[A-Za-z0-9+/=]+"), "whsec_***"),  # webhook signing secrets
    (re.compile(r"(hooks\.slack\.com/services/)[^\s\"'<>]+"), r"\1***"),  # the path is the secret
    # key=value, key: value and "key": "value" where the key names a secret (smtp_password, secret_key).
    (re.compile(r"(?i)\b([\w-]*?(?:password|passwd|secret|token|api[_-]?key|private[_-]?key|authorization)[\w-]*)"
                r"(\"?'?\s*[:=]\s*\"?'?)([^\s\"'&,;}]+)"), r"\1\2***"),
)


def redact(text: str) -> str:
    """Return text with passwords in URLs, bearer tokens, API tokens and key=value secrets masked."""
    for pattern, replacement in _REDACTIONS:
        text = pattern.sub(replacement, text)
    return text


@contextmanager
def log_context(**ids: object) -> Iterator[None]:
    """Add ids (run_id=..., delivery_id=...) to every event logged inside the block; None values are left out."""
    added = {name: str(value) for name, value in ids.items() if value is not None}
    token = _context.set({**_context.get(), **added})
    try:
        yield
    finally:
        _context.reset(token)


def _current_task() -> tuple[str, str] | None:
    # Inside a Celery task the event names it; imported lazily so the API never loads Celery for it.
    if "celery" not in sys.modules:
        return None
    from celery import current_task

    task = current_task._get_current_object()  # None outside a task
    request = getattr(task, "request", None)
    if task is None or request is None or not getattr(request, "id", None):
        return None
    return str(task.name), str(request.id)


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    fields: dict[str, Any] = dict(_context.get())
    for name in (*ID_FIELDS, *EXTRA_FIELDS):
        value = record.__dict__.get(name)
        if isinstance(value, _SCALARS):
            fields[name] = value if isinstance(value, int | float | bool) else redact(str(value))
    return fields


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time, level, logger, process, message, the ids, the exception."""

    def __init__(self, process: str) -> None:
        super().__init__()
        self.process = process

    def format(self, record: logging.LogRecord) -> str:
        event: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")
                    .replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "process": self.process,
            "pid": record.process,
            "message": redact(record.getMessage()),
        }
        task = _current_task()
        if task is not None:
            event["task"], event["task_id"] = task
        fields = _fields(record)
        event.update({name: fields.pop(name) for name in ID_FIELDS if name in fields})
        event.update(fields)
        if record.exc_info:
            event["exception"] = redact(self.formatException(record.exc_info))
        elif record.exc_text:
            event["exception"] = redact(record.exc_text)
        if record.stack_info:
            event["stack"] = redact(self.formatStack(record.stack_info))
        return json.dumps(event, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """Plain lines for a terminal: time, level, logger, message, then the ids as key=value."""

    def __init__(self, process: str) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s", "%H:%M:%S")
        self.process = process

    def format(self, record: logging.LogRecord) -> str:
        line = redact(super().format(record))
        fields = _fields(record)
        task = _current_task()
        if task is not None:
            fields["task"] = task[0]
        if fields:
            line += "  " + " ".join(f"{name}={value}" for name, value in fields.items())
        return line


def make_formatter(log_format: str, process: str) -> logging.Formatter:
    """Return the formatter for `json` or `text`; raises ValueError for another format."""
    if log_format == "json":
        return JsonFormatter(process)
    if log_format == "text":
        return TextFormatter(process)
    raise ValueError(f"unknown log format {log_format!r}")


def configure_logging(settings: Settings, process: str, *, level: int | str | None = None,
                      stream: TextIO | None = None) -> logging.Handler:
    """Send every logger's events to stderr (or `stream`) in settings.log_format; returns the handler."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(make_formatter(settings.log_format, process))
    root = logging.getLogger()
    # Replace, not add: configured twice (gunicorn's master, then its worker) must not print twice.
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level if level is not None else logging.INFO)
    logging.captureWarnings(True)
    return handler


def connect_celery_logging(process: str) -> None:
    """Make Celery (beat or worker) log through configure_logging instead of its own set-up."""
    from celery import signals

    from shared.settings import load_settings

    def setup(loglevel: int | str | None = None, **_: Any) -> None:
        configure_logging(load_settings(), process, level=loglevel or logging.INFO)

    # Celery skips its own logging set-up when this signal has a receiver; weak=False keeps the
    # closure alive.
    signals.setup_logging.connect(setup, weak=False)
