"""Rules for commands: per-kind config (http, sql, template), declared filter keys and result keys.

A command produces one result, or several named ones (Omni's dashboard tiles, "query
presentations"): an sql command with `queries` (one query per key) or an http command whose
`result_keys` name the members of the JSON object its renderer answers. The keys are declared
in the config, in order, as `result_keys`, so a schedule's `query_key` can be checked when it is
saved.

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
# A result key names a sheet of an xlsx workbook: at most 31 characters, none of []:*?/\, and
# not starting with a character a spreadsheet would read as a formula.
_RESULT_KEY = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,30}$")
MAX_RESULTS = 20
MAX_QUERY_CHARS = 100_000
_FIELDS = {
    "http": ("url", "method", "headers", "result_keys"),
    "sql": ("data_source", "query", "queries", "result_keys", "row_limit", "timeout_s"),
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


def _required_text(config: Mapping[str, Any], key: str, limit: int, *, field: str | None = None) -> str:
    value = config.get(key)
    field = field or f"config.{key}"
    if value is None or value == "":
        raise InvalidInput(f"{field}: Missing data for required field.")
    if not isinstance(value, str):
        raise InvalidInput(f"{field}: Not a valid string.")
    if len(value) > limit:
        raise InvalidInput(f"{field}: Longer than maximum length {limit}.")
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
    checked: dict[str, Any] = {"url": url, "method": method, "headers": dict(headers)}
    keys = config.get("result_keys")
    if keys is not None and keys != []:
        checked["result_keys"] = _result_keys(keys, "config.result_keys")
    return checked


def _sql(config: Mapping[str, Any], data_sources: Collection[str]) -> dict[str, Any]:
    source = _required_text(config, "data_source", 255)
    if source not in data_sources:
        available = ", ".join(sorted(data_sources)) or "none (create one with POST /v1/data-sources)"
        raise InvalidInput(f"config.data_source: Unknown data source {source}. Available data sources: {available}")
    row_limit = config.get("row_limit", 10_000)
    if not isinstance(row_limit, int) or isinstance(row_limit, bool) or not 1 <= row_limit <= 1_000_000:
        raise InvalidInput("config.row_limit: Must be an integer between 1 and 1000000")
    timeout = config.get("timeout_s", 30)
    if not isinstance(timeout, int | float) or isinstance(timeout, bool) or not 0 < timeout <= 3600:
        raise InvalidInput("config.timeout_s: Must be a number of seconds between 0 and 3600")
    return {"data_source": source, **_sql_queries(config), "row_limit": row_limit, "timeout_s": timeout}


def _sql_queries(config: Mapping[str, Any]) -> dict[str, Any]:
    # One query gives one result; `queries` gives one named result per key.
    if config.get("queries") is None:
        if config.get("result_keys") not in (None, []):
            raise InvalidInput("config.result_keys: Only with config.queries (the keys of its queries)")
        if config.get("query") in (None, ""):
            raise InvalidInput("config.query: Missing data for required field. Give query, or queries for "
                               "several named results")
        return {"query": _required_text(config, "query", MAX_QUERY_CHARS)}
    if config.get("query") is not None:
        raise InvalidInput("config.query: Give either query or queries, not both")
    queries = config["queries"]
    if not isinstance(queries, dict):
        raise InvalidInput("config.queries: Must be an object of result keys to queries")
    keys = _result_keys(list(queries), "config.queries")
    for key in keys:
        _required_text(queries, key, MAX_QUERY_CHARS, field=f"config.queries.{key}")
    given = config.get("result_keys")
    if given is not None:
        # JSON objects lose their order in storage: result_keys, given or derived, keeps it.
        ordered = _result_keys(given, "config.result_keys")
        if sorted(ordered) != sorted(keys):
            raise InvalidInput(f"config.result_keys: Must list the keys of config.queries ({', '.join(keys)}), "
                               "each once, in the order the results are delivered")
        keys = ordered
    return {"queries": {key: queries[key] for key in keys}, "result_keys": keys}


def _result_keys(keys: Any, field: str) -> list[str]:
    if not isinstance(keys, list):
        raise InvalidInput(f"{field}: Must be a list of result keys")
    if not 1 <= len(keys) <= MAX_RESULTS:
        raise InvalidInput(f"{field}: Give between 1 and {MAX_RESULTS} results")
    seen: dict[str, str] = {}
    for key in keys:
        if not isinstance(key, str) or not _RESULT_KEY.match(key):
            raise InvalidInput(f"{field}: {key!r} is not a valid result key (1 to 31 letters, digits, _, . or -, "
                               "starting with a letter, digit or _)")
        # Spreadsheets compare sheet names without case: Sales and sales could not both be sheets.
        if key.lower() in seen:
            raise InvalidInput(f"{field}: Duplicate result key {key} (keys must differ in more than case)")
        seen[key.lower()] = key
    return list(seen.values())


def unknown_result(key: str) -> str:
    """The message for a result key a command does not declare (Omni's words)."""
    return f"Couldn't find query presentation for key: {key}"


def result_keys(kind: str | None, config: Mapping[str, Any]) -> list[str]:
    """The named results a command declares, in delivery order; empty when it produces one result (pure)."""
    if kind not in ("http", "sql"):
        return []
    keys = config.get("result_keys")
    return [str(key) for key in keys] if isinstance(keys, list) else []


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
