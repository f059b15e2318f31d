"""Rules for commands: per-kind config (http, sql, template) and declared filter keys.

Pure: no I/O (the http URL's reachability is checked by shared.outbound). Functions return the
config with defaults filled in and raise InvalidInput naming the field.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from typing import Any

from shared.errors import InvalidInput
from shared.templating import check_template

COMMAND_KINDS = ("http", "sql", "template")
_FILTER_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
_HEADER_NAME = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,256}$")
_FIELDS = {
    "http": ("url", "method", "headers"),
    "sql": ("data_source", "query", "row_limit", "timeout_s"),
    "template": ("template", "content_type"),
}


def check_command_config(kind: str, config: Mapping[str, Any], data_sources: Collection[str]) -> dict[str, Any]:
    """The config with defaults for its kind; raises InvalidInput on an unknown kind or a bad field."""
    if kind not in COMMAND_KINDS:
        raise InvalidInput(f"kind: Must be one of: {', '.join(COMMAND_KINDS)}.")
    for key in config:
        if key not in _FIELDS[kind]:
            raise InvalidInput(f"config.{key}: Not a field of command kind {kind}")
    if kind == "http":
        return _http(config)
    if kind == "sql":
        return _sql(config, data_sources)
    return _template(config)


def _required_text(config: Mapping[str, Any], key: str, limit: int) -> str:
    value = config.get(key)
    if value is None or value == "":
        raise InvalidInput(f"config.{key}: Missing data for required field.")
    if not isinstance(value, str):
        raise InvalidInput(f"config.{key}: Not a valid string.")
    if len(value) > limit:
        raise InvalidInput(f"config.{key}: Longer than maximum length {limit}.")
    return value


def _http(config: Mapping[str, Any]) -> dict[str, Any]:
    url = _required_text(config, "url", 2048)
    method = config.get("method", "POST")
    if method not in ("POST", "GET"):
        raise InvalidInput("config.method: Must be one of: POST, GET.")
    headers = config.get("headers")
    headers = {} if headers is None else headers  # null clears them, like {}
    if not isinstance(headers, dict):
        raise InvalidInput("config.headers: Must be an object of header names to string values")
    for name, value in headers.items():
        if not _HEADER_NAME.match(name) or not isinstance(value, str) or "\n" in value or "\r" in value:
            raise InvalidInput(f"config.headers.{name}: Must be a valid header name with a single-line string value")
    return {"url": url, "method": method, "headers": dict(headers)}


def _sql(config: Mapping[str, Any], data_sources: Collection[str]) -> dict[str, Any]:
    source = _required_text(config, "data_source", 255)
    if source not in data_sources:
        available = ", ".join(sorted(data_sources)) or "none (create one with POST /v1/data-sources)"
        raise InvalidInput(f"config.data_source: Unknown data source {source}. Available data sources: {available}")
    query = _required_text(config, "query", 100_000)
    row_limit = config.get("row_limit", 10_000)
    if not isinstance(row_limit, int) or isinstance(row_limit, bool) or not 1 <= row_limit <= 1_000_000:
        raise InvalidInput("config.row_limit: Must be an integer between 1 and 1000000")
    timeout = config.get("timeout_s", 30)
    if not isinstance(timeout, int | float) or isinstance(timeout, bool) or not 0 < timeout <= 3600:
        raise InvalidInput("config.timeout_s: Must be a number of seconds between 0 and 3600")
    return {"data_source": source, "query": query, "row_limit": row_limit, "timeout_s": timeout}


def _template(config: Mapping[str, Any]) -> dict[str, Any]:
    template = _required_text(config, "template", 1_000_000)
    content_type = config.get("content_type", "text")
    if content_type not in ("text", "html"):
        raise InvalidInput("config.content_type: Must be one of: text, html.")
    check_template(template, "config.template", html=content_type == "html")
    return {"template": template, "content_type": content_type}


def check_filter_keys(keys: Sequence[Any]) -> list[str]:
    """Declared filter keys, each an identifier, without duplicates; raises InvalidInput."""
    out: list[str] = []
    for key in keys:
        if not isinstance(key, str) or not _FILTER_KEY.match(key):
            raise InvalidInput(f"filter_keys: {key!r} is not a valid key (letters, digits and _, not starting "
                               "with a digit, at most 63 characters)")
        if key in out:
            raise InvalidInput(f"filter_keys: Duplicate key {key}")
        out.append(key)
    return out
