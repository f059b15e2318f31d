"""The sql command: read-only SELECTs against the organization's data source, parameters bound, capped.

A command has one `query` (one result) or `queries`, one per result key (Omni's tiles); a
schedule's query_key runs only the query it names. Each query is run exactly as a lone one is,
on a session of its own, so nothing one query does to its session (a set_config() that is not
transaction-local, say) reaches the next. `timeout_s` is the budget of all the queries together:
each starts with what is left of it. The byte cap counts every result together.

What holds a tenant's query to reading (each is enough alone against the attacks we know of;
together they do not depend on the data source's role being read-only):

- It is sent with the extended query protocol, which runs exactly one statement: a `;` and a
  second statement are refused by the server before anything runs.
- It is wrapped as `SELECT * FROM (<query>) LIMIT n + 1`, so it must be a SELECT (or VALUES, TABLE,
  WITH ... SELECT): COMMIT, SET and other utility statements are syntax errors, and a
  data-modifying WITH is refused inside a subquery. The one row past the limit is read only to
  know that the result was cut (the artifact says so), and is never kept.
- It runs in a READ ONLY transaction that this code opened and that it cannot end (one statement).
- statement_timeout, lock_timeout and idle_in_transaction_session_timeout are set when the
  session starts. The one statement's timer is armed before it runs, so a set_config() inside
  it cannot lift it, and no second statement follows on that session.
- Rows are streamed and counted: at most row_limit rows per query (fewer when the schedule's
  max_row_limit is lower) and command_max_output_bytes bytes in all are ever held in memory.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from typing import Any

import psycopg

from shared.command_rules import result_keys, unknown_result
from shared.data_sources import parse_endpoint, policy_host
from shared.errors import InvalidInput
from shared.outbound import resolve_allowed
from shared.settings import Settings
from workers.commands.base import (
    LIMITED_BY_MAX_ROW_LIMIT,
    LIMITED_BY_ROW_LIMIT,
    CommandError,
    CommandRequest,
    Content,
    Rows,
    Tile,
    Tiles,
)

DEFAULT_ROW_LIMIT = 10_000
DEFAULT_TIMEOUT_S = 30.0
LOCK_TIMEOUT_MS = 10_000  # a report blocked this long on a lock is behind a migration or a vacuum: give up
STREAM_CHUNK = 500
# %(name)s is a parameter; every other % is the query's own (LIKE 'a%', modulo).
_PLACEHOLDER = re.compile(r"%\(([A-Za-z_][A-Za-z0-9_]*)\)s")


def query_parameters(request: CommandRequest) -> dict[str, Any]:
    """Named parameters for the query: the schedule's filters, overridden by the subscriber's attributes."""
    params: dict[str, Any] = dict(request.filters)
    if request.subscriber is not None:
        params.update(request.subscriber.attributes)
        params.setdefault("subscriber_email", request.subscriber.email)
        params.setdefault("subscriber_id", str(request.subscriber.id))
    return params


def selected_queries(config: Mapping[str, Any], query_key: str | None) -> list[tuple[str | None, str]]:
    """The queries to run, each with its result key: the one query, every named one in order, or the one
    query_key names (pure); raises CommandError for a key the command does not have."""
    queries = config.get("queries")
    if not isinstance(queries, dict):
        if query_key is not None:
            raise CommandError(unknown_result(query_key))
        return [(None, str(config.get("query", "")))]
    if query_key is not None:
        if query_key not in queries:
            raise CommandError(unknown_result(query_key))
        return [(query_key, str(queries[query_key]))]
    order = result_keys("sql", config) or list(queries)
    return [(key, str(queries[key])) for key in order if key in queries]


def wrap_query(query: str, row_limit: int) -> str:
    """The query as psycopg receives it: literal % escaped, one SELECT, at most row_limit rows (pure)."""
    body = query.strip().rstrip(";").rstrip()
    pieces = []
    last = 0
    for match in _PLACEHOLDER.finditer(body):
        pieces.append(body[last:match.start()].replace("%", "%%"))
        pieces.append(match.group(0))
        last = match.end()
    pieces.append(body[last:].replace("%", "%%"))
    # The newline ends a trailing `--` comment, which would otherwise swallow the closing parenthesis.
    return f"SELECT * FROM (\n{''.join(pieces)}\n) AS punctual_query LIMIT {int(row_limit)}"


def session_options(timeout_ms: int) -> str:
    """libpq `options` that fix the session's limits before the query can run (pure)."""
    return (f"-c default_transaction_read_only=on -c statement_timeout={timeout_ms} "
            f"-c lock_timeout={min(timeout_ms, LOCK_TIMEOUT_MS)} "
            f"-c idle_in_transaction_session_timeout={timeout_ms + 5000}")


def _row_size(row: tuple[Any, ...]) -> int:
    return sum(len(v) if isinstance(v, str | bytes) else 8 if v is not None else 0 for v in row) + 8


class SqlCommand:
    """Runs config.query (or each of config.queries) as one read-only SELECT with a statement timeout; the rows are
    the content (one table per result key)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def _connect_kwargs(self, request: CommandRequest, timeout_ms: int) -> dict[str, Any]:
        source = request.data_source
        if source is None:
            name = request.config.get("data_source", "")
            raise CommandError(f"sql command: unknown data source {name!r} for this organization")
        kwargs: dict[str, Any] = {"options": session_options(timeout_ms), "connect_timeout": 10,
                                  "application_name": "punctual-sql-command", "autocommit": False}
        if source.owned:
            # A tenant's own data source is a URL the tenant typed: it may not reach private
            # addresses (Punctual's own network) unless allowed, and the connection goes to the
            # address that was checked, not to whatever the name resolves to a moment later.
            try:
                endpoint = parse_endpoint(source.url)
                addresses = resolve_allowed(policy_host(endpoint), endpoint.port, self.settings.outbound_allowlist,
                                            field="data source")
            except InvalidInput as exc:
                raise CommandError(f"sql command: {exc.detail}") from None
            if endpoint.host is not None:  # a local socket has no address to pin
                kwargs["hostaddr"] = addresses[0]
        return kwargs

    def run(self, request: CommandRequest) -> Content:
        """Run the query (or each named one); raises CommandError for an unknown data source or result key, a
        refused query, a DB error, the time budget or a cap."""
        config = request.config
        row_limit = int(config.get("row_limit") or DEFAULT_ROW_LIMIT)
        # The schedule's cap, when lower, is applied in the database too: no row past it is fetched.
        limit = min(row_limit, request.max_rows) if request.max_rows else row_limit
        limited_by = LIMITED_BY_MAX_ROW_LIMIT if limit < row_limit else LIMITED_BY_ROW_LIMIT
        budget_ms = max(1, int(float(config.get("timeout_s") or DEFAULT_TIMEOUT_S) * 1000))
        named = selected_queries(config, request.query_key)
        started = time.monotonic()
        spent = _Spent(self.settings.command_max_output_bytes)
        results: list[tuple[str | None, Rows]] = []
        for key, query in named:
            left_ms = budget_ms - int((time.monotonic() - started) * 1000)
            if left_ms <= 0:
                raise CommandError(f"{_label(key)}: timeout_s ({budget_ms / 1000:g} s for all the queries) was spent "
                                   "before this query could start")
            results.append((key, self._run_query(request, key, query, limit, limited_by, left_ms, spent)))
        if not isinstance(config.get("queries"), dict):
            return results[0][1]
        return Tiles([Tile(str(key), rows) for key, rows in results])

    def _run_query(self, request: CommandRequest, key: str | None, query: str, limit: int, limited_by: str,
                   timeout_ms: int, spent: _Spent) -> Rows:
        kwargs = self._connect_kwargs(request, timeout_ms)
        assert request.data_source is not None
        wrapped = wrap_query(query, limit + 1)
        rows: list[tuple[Any, ...]] = []
        cut = False
        try:
            # A session per query: nothing one query sets on its session outlives it.
            with psycopg.connect(request.data_source.url, **kwargs) as conn:
                conn.read_only = True  # BEGIN READ ONLY, whatever the session default says
                with conn.cursor() as cur:
                    # stream() always uses the extended protocol: one statement, never a script.
                    for row in cur.stream(wrapped, query_parameters(request), size=STREAM_CHUNK):  # type: ignore[arg-type]
                        if len(rows) == limit:
                            cut = True  # the row past the limit: read to know there are more, never kept
                            continue
                        spent.add(_row_size(row), key)
                        rows.append(tuple(row))
                    columns = [c.name for c in cur.description or ()]
                conn.rollback()
        except KeyError as exc:
            raise CommandError(f"{_label(key)}: no value for parameter {exc.args[0]!r}") from None
        except psycopg.Error as exc:
            raise CommandError(f"{_label(key)}: {type(exc).__name__}: {_first_line(exc)}") from None
        return Rows(columns, rows, limited_by if cut else None)


class _Spent:
    """Bytes kept across every result of one run, against command_max_output_bytes."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.size = 0

    def add(self, size: int, key: str | None) -> None:
        self.size += size
        if self.size > self.cap:
            what = "result" if key is None else "results together"
            raise CommandError(f"{_label(key)}: {what} larger than {self.cap} bytes "
                               "(PUNCTUAL_COMMAND_MAX_OUTPUT_BYTES)")


def _label(key: str | None) -> str:
    return "sql command" if key is None else f"sql command ({key})"


def _first_line(exc: psycopg.Error) -> str:
    # The server's own message is what the user needs; a connection error's full text can hold the URL.
    diag = getattr(exc, "diag", None)
    primary = getattr(diag, "message_primary", None) if diag is not None else None
    text = primary or (str(exc).strip().splitlines() or [""])[0]
    if isinstance(exc, psycopg.errors.SyntaxError):
        return f"{text} (a sql command is one SELECT, VALUES or WITH ... SELECT statement)"
    return text or "no detail"
