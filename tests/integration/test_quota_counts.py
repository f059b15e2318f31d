"""The counts quotas decide on, on real PostgreSQL: deliveries of the last hour per organization."""

from __future__ import annotations

from datetime import UTC, datetime

from psycopg_pool import ConnectionPool

from shared.db import transaction
from shared.quotas import QUOTA_WINDOW
from shared.sql.quotas import count_deliveries_since
from tests.conftest import make_tenant


def test_deliveries_are_counted_per_organization_over_the_last_hour(pool: ConnectionPool) -> None:
    orgs = [make_tenant(pool, name).organization_id for name in ("Acme", "Globex")]
    with transaction(pool) as conn:
        for org, recent, old in ((orgs[0], 7, 3), (orgs[1], 2, 0)):
            schedule = conn.execute(
                """INSERT INTO schedules (organization_id, name, cron_expression, destination_type)
                   VALUES (%s, 's', '0 9 * * *', 'webhook') RETURNING id""", (org,)).fetchone()[0]  # type: ignore[index]
            run = conn.execute("INSERT INTO runs (organization_id, schedule_id, scheduled_for) VALUES (%s, %s, now()) "
                               "RETURNING id", (org, schedule)).fetchone()[0]  # type: ignore[index]
            conn.execute(
                """INSERT INTO deliveries (organization_id, run_id, schedule_id, recipient_key, destination_type,
                                          created_at)
                   SELECT %s, %s, %s, 'r' || g, 'webhook',
                          CASE WHEN g <= %s THEN now() - interval '59 minutes' ELSE now() - interval '61 minutes' END
                   FROM generate_series(1, %s) g""", (org, run, schedule, recent, recent + old))
    since = datetime.now(UTC) - QUOTA_WINDOW
    with transaction(pool) as conn:
        assert count_deliveries_since(conn, orgs[0], since) == 7  # type: ignore[arg-type]
        assert count_deliveries_since(conn, orgs[1], since) == 2  # type: ignore[arg-type]
        # Capped: counting stops one past the quota, which is all a decision needs.
        assert count_deliveries_since(conn, orgs[0], since, cap=4) == 5  # type: ignore[arg-type]
