"""The counts quotas decide on, on real PostgreSQL: deliveries of the last hour per organization."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from psycopg_pool import ConnectionPool

from shared.db import transaction
from shared.quotas import QUOTA_WINDOW
from shared.sql import deliveries as delivery_sql
from shared.sql.deliveries import NewDelivery, Target
from shared.sql.quotas import count_deliveries_since
from tests.conftest import make_tenant


def _insert(pool: ConnectionPool, org: object, count: int, prefix: str) -> int:
    """Insert `count` deliveries of a new run of the organization as workers do; return how many were new."""
    with transaction(pool) as conn:
        schedule = conn.execute(
            """INSERT INTO schedules (organization_id, name, cron_expression, destination_type)
               VALUES (%s, 's', '0 9 * * *', 'webhook') RETURNING id""", (org,)).fetchone()[0]  # type: ignore[index]
        run = conn.execute("INSERT INTO runs (organization_id, schedule_id, scheduled_for) VALUES (%s, %s, now()) "
                           "RETURNING id", (org, schedule)).fetchone()[0]  # type: ignore[index]
        target = Target(org, run, schedule, "webhook", 3)  # type: ignore[arg-type]
        items = [(target, NewDelivery(f"{prefix}{n}", None, None)) for n in range(count)]
        new = delivery_sql.insert_many(conn, items, 300)
        # A redelivered message inserts nothing again, and adds nothing to the tally.
        assert delivery_sql.insert_many(conn, items, 300) == []
    return len(new)


def test_deliveries_are_counted_per_organization_over_the_last_hour(pool: ConnectionPool) -> None:
    orgs = [make_tenant(pool, name).organization_id for name in ("Acme", "Globex")]
    assert _insert(pool, orgs[0], 3, "old") == 3
    with transaction(pool) as conn:  # those three were made 61 minutes ago
        conn.execute("UPDATE delivery_counts SET minute = minute - interval '61 minutes' WHERE organization_id = %s",
                     (orgs[0],))
    _insert(pool, orgs[0], 7, "new")
    _insert(pool, orgs[1], 2, "new")

    since = datetime.now(UTC) - QUOTA_WINDOW
    with transaction(pool) as conn:
        assert count_deliveries_since(conn, orgs[0], since) == 7  # type: ignore[arg-type]
        assert count_deliveries_since(conn, orgs[1], since) == 2  # type: ignore[arg-type]
        assert count_deliveries_since(conn, orgs[0], since - timedelta(hours=2)) == 10  # type: ignore[arg-type]
        # Forgetting the tallies past the window (the sweep) leaves the hour's.
        assert delivery_sql.forget_counts_before(conn, since) == 1
        assert count_deliveries_since(conn, orgs[0], since - timedelta(hours=2)) == 7  # type: ignore[arg-type]
