"""SQL the organization quotas count with (shared/quotas.py decides); read-only."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import psycopg


def count_live_schedules(conn: psycopg.Connection, organization_id: UUID) -> int:
    """How many schedules the organization has that are not deleted (its hidden sends are not counted)."""
    row = conn.execute("SELECT count(*) FROM schedules WHERE organization_id = %s AND deleted_at IS NULL "
                       "AND owner IS NULL",
                       (organization_id,)).fetchone()
    assert row is not None
    return int(row[0])


def count_recipients(conn: psycopg.Connection, organization_id: UUID, schedule_id: UUID) -> int:
    """How many subscribers the schedule has."""
    row = conn.execute("SELECT count(*) FROM schedule_subscribers WHERE organization_id = %s AND schedule_id = %s",
                       (organization_id, schedule_id)).fetchone()
    assert row is not None
    return int(row[0])


def triggered_runs_since(conn: psycopg.Connection, organization_id: UUID,
                         since: datetime) -> tuple[int, datetime | None]:
    """How many runs the organization triggered by hand (trigger, test) since `since`, and the oldest's time."""
    row = conn.execute(
        """SELECT count(*), min(created_at) FROM runs
           WHERE organization_id = %s AND trigger IN ('manual', 'test') AND created_at > %s""",
        (organization_id, since),
    ).fetchone()
    assert row is not None
    return int(row[0]), row[1]


def count_deliveries_since(conn: psycopg.Connection, organization_id: UUID, since: datetime) -> int:
    """How many deliveries the organization made since `since`, by the minute: the minute holding `since`
    counts whole, so a quota decided on this never lets more through than it allows."""
    row = conn.execute(
        """SELECT coalesce(sum(deliveries), 0) FROM delivery_counts
           WHERE organization_id = %s AND minute >= date_trunc('minute', %s::timestamptz)""",
        (organization_id, since),
    ).fetchone()
    assert row is not None
    return int(row[0])
