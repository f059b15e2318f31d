"""The sql command: a read-only query against a named data source, parameters bound, time and rows capped."""

from __future__ import annotations

from typing import Any

import psycopg

from shared.settings import Settings
from workers.commands.base import CommandError, CommandRequest, Content, Rows

DEFAULT_ROW_LIMIT = 10_000
DEFAULT_TIMEOUT_S = 30.0


def query_parameters(request: CommandRequest) -> dict[str, Any]:
    """Named parameters for the query: the schedule's filters, overridden by the subscriber's attributes."""
    params: dict[str, Any] = dict(request.filters)
    if request.subscriber is not None:
        params.update(request.subscriber.attributes)
        params.setdefault("subscriber_email", request.subscriber.email)
        params.setdefault("subscriber_id", str(request.subscriber.id))
    return params


class SqlCommand:
    """Runs config.query in a READ ONLY transaction with a statement timeout; rows are the content."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def run(self, request: CommandRequest) -> Content:
        """Run the query; raises CommandError for an unknown data source, a missing parameter or a DB error."""
        name = str(request.config.get("data_source", ""))
        dsn = self.settings.data_sources.get(name)
        if dsn is None:
            raise CommandError(f"sql command: unknown data source {name!r} (see PUNCTUAL_DATA_SOURCES)")
        query = str(request.config.get("query", ""))
        row_limit = int(request.config.get("row_limit") or DEFAULT_ROW_LIMIT)
        timeout_ms = int(float(request.config.get("timeout_s") or DEFAULT_TIMEOUT_S) * 1000)
        # Read-only and the timeout are set for the whole session, so the query cannot lift them
        # mid-transaction; the data source's role should be read-only as well.
        options = f"-c default_transaction_read_only=on -c statement_timeout={timeout_ms}"
        try:
            with psycopg.connect(dsn, options=options, connect_timeout=10,
                                 application_name="punctual-sql-command") as conn:
                conn.read_only = True
                with conn.cursor() as cur:
                    # Always passing a mapping makes psycopg use the extended protocol: one statement only.
                    cur.execute(query, query_parameters(request))  # type: ignore[arg-type]
                    if cur.description is None:
                        raise CommandError("sql command: the statement returned no rows (not a SELECT?)")
                    columns = [c.name for c in cur.description]
                    rows = cur.fetchmany(row_limit)
                conn.rollback()
        except KeyError as exc:
            raise CommandError(f"sql command: no value for parameter {exc.args[0]!r}") from None
        except psycopg.Error as exc:
            raise CommandError(f"sql command: {type(exc).__name__}: {str(exc).strip()}") from None
        return Rows(columns, [tuple(r) for r in rows])
