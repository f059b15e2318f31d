"""The only place that maps errors to HTTP: every error body is {"detail": ..., "status": ...}."""

from __future__ import annotations

import logging
from typing import Any

import psycopg
from flask import Flask, Response, jsonify
from werkzeug.exceptions import HTTPException

from shared.errors import (
    BadState,
    ConfigError,
    Conflict,
    InvalidInput,
    NotFound,
    PreconditionFailed,
    PunctualError,
    RateLimited,
    Unauthorized,
    Unavailable,
)

logger = logging.getLogger("punctual.api")

STATUS_BY_ERROR: dict[type[PunctualError], int] = {
    InvalidInput: 400,
    Unauthorized: 401,
    NotFound: 404,
    Conflict: 409,
    BadState: 409,
    PreconditionFailed: 412,
    RateLimited: 429,
    Unavailable: 503,
}
# How long a client should wait before trying again while the database is unreachable: about what
# a PostgreSQL restart or failover takes.
DATABASE_RETRY_AFTER_S = 5


def error_response(detail: str, status: int, headers: dict[str, str] | None = None) -> Response:
    """Build the standard error body."""
    response = jsonify({"detail": detail, "status": status})
    response.status_code = status
    for key, value in (headers or {}).items():
        response.headers[key] = value
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="punctual"'
    return response


def flatten_messages(messages: Any, prefix: str = "") -> list[str]:
    """Turn marshmallow's nested messages into 'field: message' lines."""
    if isinstance(messages, dict):
        lines: list[str] = []
        for key, value in messages.items():
            if key in ("json", "query", "path", "headers", "form", "files") and not prefix:
                lines.extend(flatten_messages(value, ""))
                continue
            name = str(key) if key != "_schema" else ""
            full = f"{prefix}.{name}" if prefix and name else (name or prefix)
            lines.extend(flatten_messages(value, full))
        return lines
    if isinstance(messages, list | tuple):
        out: list[str] = []
        for item in messages:
            out.extend(flatten_messages(item, prefix))
        return out
    text = str(messages)
    return [f"{prefix}: {text}" if prefix else text]


def _http_detail(exc: HTTPException) -> tuple[str, int]:
    code = exc.code or 500
    data = getattr(exc, "data", None)
    if isinstance(data, dict) and "messages" in data:
        messages = data["messages"]
        if isinstance(messages, dict) and "json" in messages and messages["json"] == ["Invalid JSON body."]:
            return "Invalid JSON", 400
        lines = flatten_messages(messages)
        return "; ".join(lines) or "Invalid input", 400 if code == 422 else code
    if code == 400 and "JSON" in (exc.description or "") and "decode" in (exc.description or ""):
        return "Invalid JSON", 400
    if code == 404:
        return "Not found: no such route", 404
    if code == 405:
        return "Method not allowed", 405
    if code == 413:
        return "Request body too large", 413
    return exc.description or exc.name, code


def register_error_handlers(app: Flask) -> None:
    """Install handlers so that every error, expected or not, answers in the standard body."""

    @app.errorhandler(PunctualError)
    def _domain(exc: PunctualError) -> Response:
        if isinstance(exc, ConfigError):
            logger.error("configuration error: %s", exc.detail)
            return error_response("Internal server error", 500)
        status = next((s for t, s in STATUS_BY_ERROR.items() if isinstance(exc, t)), 400)
        headers = {"Retry-After": str(exc.retry_after_s)} if isinstance(exc, RateLimited | Unavailable) else None
        return error_response(exc.detail, status, headers)

    @app.errorhandler(psycopg.OperationalError)
    def _database_unavailable(exc: psycopg.OperationalError) -> Response:
        # PostgreSQL down, restarting or failing over, or no pooled connection within
        # PUNCTUAL_API_DB_TIMEOUT (psycopg_pool.PoolTimeout is an OperationalError): the request may
        # succeed in a moment, so it is a 503 with Retry-After, not a 500. The reason is logged, not
        # shown: it names hosts and ports.
        logger.warning("database unavailable: %s: %s", type(exc).__name__, str(exc).splitlines()[0] if str(exc) else "")
        return _domain(Unavailable("Database unavailable; retry shortly", DATABASE_RETRY_AFTER_S))

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException) -> Response:
        if isinstance(exc.response, Response):  # already answered in the standard body (the rate limiter's 429)
            return exc.response
        detail, status = _http_detail(exc)
        headers = {}
        if status == 405 and exc.get_response().headers.get("Allow"):
            headers["Allow"] = exc.get_response().headers["Allow"]
        return error_response(detail, status, headers)

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Response:
        logger.exception("unhandled error")
        return error_response("Internal server error", 500)
