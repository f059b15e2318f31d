"""SQL for reading schedules the way the API shows them: one, or a filtered keyset-paged list."""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any
from uuid import UUID

import psycopg
from psycopg.rows import class_row

from shared.sql.schedules import Schedule


@dataclass(frozen=True)
class ScheduleView(Schedule):
    """A schedule as the API shows it (next_run_at only while it can fire), its recipients and secrets flag."""

    recipient_count: int
    has_destination_secret: bool


@dataclass(frozen=True)
class ScheduleQuery:
    """Filters and order of a schedule listing (validated by the caller)."""

    sort_field: str = "created_at"
    descending: bool = False
    q: str | None = None
    status: str | None = None
    destination: str | None = None
    run_mode: str | None = None
    enabled: bool | None = None
    owner_id: UUID | None = None


# A NULL time (never ran, paused, done) sorts after every real one; a far-future stand-in keeps
# the keyset a plain row comparison that the expression indexes of migration 0010 can serve.
NULL_TIME_SENTINEL = "9999-12-31 00:00:00+00"
# The next slot as the API shows it: none while the schedule cannot fire (paused, disabled or
# system-disabled). The stored next_run_at is left as it was: beat never reads it for such a row
# (its claim and its due index leave them out) and resume or re-enable computes it afresh from now.
SHOWN_NEXT_RUN_AT = ("CASE WHEN s.enabled AND s.paused_at IS NULL AND s.system_disabled_at IS NULL "
                     "THEN s.next_run_at END")
SORT_EXPRESSIONS = {
    "name": "s.name",
    "created_at": "s.created_at",
    "next_run_time": f"coalesce({SHOWN_NEXT_RUN_AT}, '{NULL_TIME_SENTINEL}'::timestamptz)",
    "last_run_time": f"coalesce(s.last_run_at, '{NULL_TIME_SENTINEL}'::timestamptz)",
}
_VIEW_COLUMNS = ", ".join(f"{SHOWN_NEXT_RUN_AT} AS next_run_at" if f.name == "next_run_at" else f"s.{f.name}"
                          for f in fields(Schedule)) + """,
    (SELECT count(*) FROM schedule_subscribers ss WHERE ss.schedule_id = s.id)::int AS recipient_count,
    s.destination_secret IS NOT NULL AS has_destination_secret"""


def get_schedule_view(conn: psycopg.Connection, organization_id: UUID, schedule_id: UUID) -> ScheduleView | None:
    """A live schedule of the organization as the API shows it, or None."""
    with conn.cursor(row_factory=class_row(ScheduleView)) as cur:
        cur.execute(
            f"""SELECT {_VIEW_COLUMNS} FROM schedules s
                WHERE s.id = %s AND s.organization_id = %s AND s.deleted_at IS NULL AND s.owner IS NULL""",
            (schedule_id, organization_id),
        )
        return cur.fetchone()


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _where(organization_id: UUID, query: ScheduleQuery) -> tuple[list[str], list[Any]]:
    where = ["s.organization_id = %s", "s.deleted_at IS NULL", "s.owner IS NULL"]
    params: list[Any] = [organization_id]
    for column, value in (("s.last_status", query.status), ("s.destination_type", query.destination),
                          ("s.run_mode", query.run_mode), ("s.enabled", query.enabled),
                          ("s.created_by_user_id", query.owner_id)):
        if value is not None:
            where.append(f"{column} = %s")
            params.append(value)
    if query.q:
        # Substring match over the schedule's name, its command's name and its owner. The command
        # and owner ids are looked up first (= ANY(ARRAY(...)) runs once), so the three arms can be
        # a BitmapOr of the trigram index on name (where pg_trgm exists, migration 0010), the
        # command index and the owner index, rather than a scan of the organization's schedules.
        pattern = f"%{_escape_like(query.q)}%"
        where.append(
            """(s.name ILIKE %s
                OR s.command_id = ANY(ARRAY(SELECT c.id FROM commands c
                                            WHERE c.organization_id = %s AND c.name ILIKE %s))
                OR s.created_by_user_id = ANY(ARRAY(SELECT u.id FROM users u WHERE u.organization_id = %s
                                                    AND (u.email ILIKE %s OR u.name ILIKE %s))))"""
        )
        params.extend([pattern, organization_id, pattern, organization_id, pattern, pattern])
    return where, params


def list_schedule_views(conn: psycopg.Connection, organization_id: UUID, query: ScheduleQuery, *, limit: int,
                        after: tuple[str | datetime, UUID] | None = None) -> list[ScheduleView]:
    """One page of schedules in (sort value, id) order, starting after the given keyset position."""
    key = SORT_EXPRESSIONS[query.sort_field]
    where, params = _where(organization_id, query)
    direction = "DESC" if query.descending else "ASC"
    if after is not None:
        where.append(f"({key}, s.id) {'<' if query.descending else '>'} (%s, %s)")
        params.extend(after)
    with conn.cursor(row_factory=class_row(ScheduleView)) as cur:
        cur.execute(
            f"""SELECT {_VIEW_COLUMNS} FROM schedules s WHERE {" AND ".join(where)}
                ORDER BY {key} {direction}, s.id {direction} LIMIT %s""",
            [*params, limit],
        )
        return cur.fetchall()


COUNT_CAP = 10_000


def count_schedules(conn: psycopg.Connection, organization_id: UUID, query: ScheduleQuery,
                    *, cap: int = COUNT_CAP) -> int:
    """Matching live schedules: exact up to `cap`; above it the planner's estimate (never below cap + 1).

    An exact count scans every matching row (about 35 ms for 100,000 on a small machine); capping
    it bounds the first page's cost however large the organization grows.
    """
    where, params = _where(organization_id, query)
    sql = f"SELECT 1 FROM schedules s WHERE {' AND '.join(where)}"
    row = conn.execute(f"SELECT count(*) FROM ({sql} LIMIT %s) AS capped", [*params, cap + 1]).fetchone()
    assert row is not None
    if int(row[0]) <= cap:
        return int(row[0])
    plan = conn.execute(f"EXPLAIN (FORMAT JSON) {sql}", params).fetchone()
    assert plan is not None
    estimate = int(plan[0][0]["Plan"]["Plan Rows"])
    return max(estimate, cap + 1)


def sort_value(view: ScheduleView, sort_field: str) -> str | datetime:
    """The value a row sorts by, as the keyset of the next page needs it."""
    if sort_field == "name":
        return view.name
    if sort_field == "created_at":
        return view.created_at
    moment = view.next_run_at if sort_field == "next_run_time" else view.last_run_at
    return moment if moment is not None else datetime.fromisoformat(NULL_TIME_SENTINEL.replace(" ", "T"))
