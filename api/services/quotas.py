"""Organization quotas enforced inside the caller's transaction, counted under a lock so that two
requests at the limit cannot both pass."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID

import psycopg

from shared import quotas
from shared.settings import Settings
from shared.sql import quotas as quota_sql
from shared.sql.organizations import lock_organization


def reserve_schedule(conn: psycopg.Connection, settings: Settings, organization_id: UUID) -> None:
    """Lock the organization and check one more schedule fits; raises InvalidInput naming the quota."""
    lock_organization(conn, organization_id)
    quotas.check_total(quotas.schedules_quota(settings), quota_sql.count_live_schedules(conn, organization_id) + 1)


def check_recipient_count(settings: Settings, total: int) -> None:
    """Check a schedule may have `total` recipients; raises InvalidInput naming the quota."""
    quotas.check_total(quotas.recipients_quota(settings), total)


def check_recipients(conn: psycopg.Connection, settings: Settings, organization_id: UUID, schedule_id: UUID) -> None:
    """Check the recipients the schedule now has (its row locked by the caller) fit; raises InvalidInput,
    which rolls the caller's transaction back."""
    check_recipient_count(settings, quota_sql.count_recipients(conn, organization_id, schedule_id))


def reserve_triggered_run(conn: psycopg.Connection, settings: Settings, organization_id: UUID) -> None:
    """Lock the organization and check one more run triggered by hand fits this hour; raises RateLimited."""
    lock_organization(conn, organization_id)
    now = datetime.now(UTC)
    recent, oldest = quota_sql.triggered_runs_since(conn, organization_id, now - quotas.QUOTA_WINDOW)
    quotas.check_rate(quotas.triggered_runs_quota(settings), recent, oldest, now)
