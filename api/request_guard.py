"""Checks every request passes before its view: tenant ids that must match, and text PostgreSQL can store."""

from __future__ import annotations

import math
from typing import Any
from uuid import UUID

from flask import Flask, g, request
from werkzeug.exceptions import BadRequest

from shared.errors import InvalidInput

_BAD_TEXT = "Strings may not contain NUL characters or unpaired surrogates"


def _text_ok(text: str) -> bool:
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate such as "\ud800", valid JSON but not UTF-8
        return False
    return True


def _check_value(value: Any) -> None:
    if isinstance(value, str):
        if not _text_ok(value):
            raise InvalidInput(_BAD_TEXT)
    elif isinstance(value, float):
        if not math.isfinite(value):  # Python's json reads NaN and Infinity; JSON and PostgreSQL's jsonb do not
            raise InvalidInput("Invalid JSON: NaN and Infinity are not numbers")
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_value(key)
            _check_value(item)
    elif isinstance(value, list):
        for item in value:
            _check_value(item)


def _check_organization(value: Any, where: str) -> None:
    # A mismatch is a 400, not a 404: the caller named its own tenant wrongly, and answering the
    # same for every other id (existing or not) reveals nothing about other organizations.
    try:
        given = UUID(value) if isinstance(value, str) else None
    except ValueError:
        given = None
    if given is None:
        raise InvalidInput("organization_id: Invalid uuid")
    if given != g.organization_id:
        raise InvalidInput(f"organization_id: Does not match the organization of the token ({where})")


def _json_body() -> Any:
    if not request.is_json or not request.get_data(cache=True):
        return None
    try:
        return request.get_json()
    except BadRequest:
        # Malformed JSON, or valid JSON Python will not read (an integer of more than 4,300 digits raises
        # ValueError, which the argument parser would not expect): refused here, once, for every route.
        raise InvalidInput("Invalid JSON") from None


def guard_request() -> None:
    """Reject text PostgreSQL cannot store and an organization_id other than the token's; raises InvalidInput."""
    if getattr(g, "organization_id", None) is None:
        return  # public or unknown route: nothing to check against
    for key, value in request.args.items(multi=True):
        _check_value(key)
        _check_value(value)
    if "organization_id" in request.args:
        _check_organization(request.args["organization_id"], "query")
    try:
        body = _json_body()
        _check_value(body)
    except RecursionError:  # nested deeper than the parser's stack: not JSON we will read
        raise InvalidInput("Invalid JSON") from None
    if isinstance(body, dict) and "organization_id" in body:
        _check_organization(body["organization_id"], "body")


def register_guard(app: Flask) -> None:
    """Run guard_request after authentication, before every view."""
    app.before_request(guard_request)
