"""Concurrent transitions on one campaign: the row lock makes them take turns, and the second judges what the
first left. Real concurrent requests to a gunicorn API with two worker processes, and interleaved transactions."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
import requests
from psycopg_pool import ConnectionPool

from api.services import campaigns as service
from shared.db import transaction
from shared.errors import PreconditionFailed
from shared.settings import Settings
from tests.conftest import Tenant, make_tenant
from tests.integration.api.test_campaigns import CONTENT, insert_list, next_slot
from tests.processes import start_api, wait_for

ROUNDS = 25


@pytest.fixture()
def served(settings: Settings, log_dir: Path, pool: ConnectionPool) -> Iterator[tuple[str, Tenant, str]]:
    tenant = make_tenant(pool)
    segment = insert_list(pool, tenant.organization_id)
    api, base = start_api(settings, log_dir)
    try:
        yield base, tenant, segment
    finally:
        api.stop()


def _race(session: requests.Session, base: str, tenant: Tenant, campaign_id: str,
          actions: tuple[str, str]) -> list[tuple[str, int, str]]:
    """Send both actions at once (released by a barrier) and return (action, status, detail or status)."""
    barrier = threading.Barrier(len(actions))

    def call(action: str) -> tuple[str, int, str]:
        body = {"scheduled_at": next_slot()} if action == "schedule" else None
        barrier.wait()
        response = session.post(f"{base}/v1/campaigns/{campaign_id}/{action}", json=body, headers=tenant.headers,
                                timeout=10)
        data = response.json()
        return action, response.status_code, data.get("detail") or data["status"]

    with ThreadPoolExecutor(len(actions)) as executor:
        return list(executor.map(call, actions))


def _create(session: requests.Session, base: str, tenant: Tenant, segment: str) -> str:
    response = session.post(f"{base}/v1/campaigns", json={"name": "Race", "segment_id": segment, "content": CONTENT},
                            headers=tenant.headers, timeout=10)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def _sends_agree(pool: ConnectionPool) -> None:
    """One send per scheduled campaign, never an orphan, and a cancelled campaign's send never fires."""
    with transaction(pool) as conn:
        sends = conn.execute("SELECT count(*) FROM schedules WHERE owner = 'campaign'").fetchone()
        linked = conn.execute("SELECT count(*) FROM campaigns WHERE schedule_id IS NOT NULL").fetchone()
        armed_but_cancelled = conn.execute(
            """SELECT count(*) FROM campaigns c JOIN schedules s ON s.id = c.schedule_id
               WHERE c.status = 'cancelled' AND (s.cancelled_at IS NULL OR s.next_run_at IS NOT NULL)""").fetchone()
        scheduled_unarmed = conn.execute(
            """SELECT count(*) FROM campaigns c LEFT JOIN schedules s ON s.id = c.schedule_id
               WHERE c.status = 'scheduled' AND (s.id IS NULL OR s.cancelled_at IS NOT NULL)""").fetchone()
    assert sends == linked and armed_but_cancelled == (0,) and scheduled_unarmed == (0,), \
        (sends, linked, armed_but_cancelled, scheduled_unarmed)


def test_concurrent_requests_on_one_campaign_take_turns(served: tuple[str, Tenant, str],
                                                        pool: ConnectionPool) -> None:
    base, tenant, segment = served
    session = requests.Session()
    orders: Counter[str] = Counter()
    for _ in range(ROUNDS):
        # Two schedules, or two cancels: exactly one wins, the other is told the state the winner left.
        for action, state in (("schedule", "scheduled"), ("cancel", "cancelled")):
            cid = _create(session, base, tenant, segment)
            outcomes = sorted(status for _, status, _ in _race(session, base, tenant, cid, (action, action)))
            assert outcomes == [200, 412], outcomes
            details = {detail for _, status, detail in _race(session, base, tenant, cid, (action, action))}
            assert details == {f"Campaign is {state}; cannot {action}"}
        # Schedule against cancel on a draft: the outcome is one of the two orders, never a mix of both.
        cid = _create(session, base, tenant, segment)
        results = dict((action, (status, detail)) for action, status, detail in
                       _race(session, base, tenant, cid, ("schedule", "cancel")))
        final = session.get(f"{base}/v1/campaigns/{cid}", headers=tenant.headers, timeout=10).json()
        assert final["status"] == "cancelled" and results["cancel"][0] == 200, results
        if results["schedule"][0] == 200:
            orders["schedule first"] += 1
            assert final["scheduled_at"] is not None
        else:
            orders["cancel first"] += 1
            assert results["schedule"] == (412, "Campaign is cancelled; cannot schedule"), results
            assert final["scheduled_at"] is None
    assert sum(orders.values()) == ROUNDS
    _sends_agree(pool)
    print(f"schedule against cancel, {ROUNDS} rounds: {dict(orders)}")


def _blocked_on_lock(pool: ConnectionPool) -> bool:
    with transaction(pool) as conn:
        row = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                           "AND wait_event_type = 'Lock' AND query LIKE 'SELECT%%FROM campaigns%%FOR UPDATE'"
                           ).fetchone()
    return bool(row and row[0])


def _hold_then_run(pool: ConnectionPool, settings: Settings, first: Callable[[Any], Any],
                   second: Callable[[Any], Any]) -> Any:
    """Run `first` in a transaction left open until `second`, in another, is seen waiting on the row lock."""
    with ThreadPoolExecutor(1) as executor, pool.connection() as held:
        with held.transaction():
            first(held)
            later = executor.submit(lambda: _in_transaction(pool, second))
            wait_for(lambda: _blocked_on_lock(pool), timeout=10, interval=0.02)
            assert not later.done()
        return later.result(timeout=10)


def _in_transaction(pool: ConnectionPool, call: Callable[[Any], Any]) -> Any:
    try:
        with transaction(pool) as conn:
            return call(conn)
    except PreconditionFailed as refused:
        return refused


def test_a_transition_waits_for_the_one_holding_the_row(pool: ConnectionPool, settings: Settings) -> None:
    tenant = make_tenant(pool)
    org = UUID(tenant.organization_id)
    segment = UUID(insert_list(pool, tenant.organization_id))

    def draft() -> UUID:
        with transaction(pool) as conn:
            return service.create_campaign(conn, org, {"name": "Held", "description": "", "segment_id": segment,
                                                       "content": CONTENT}, None).id  # type: ignore[no-any-return]

    def schedule(cid: UUID) -> Callable[[Any], Any]:
        return lambda conn: service.schedule_campaign(conn, settings, org, cid, next_slot(), datetime.now(UTC))

    def cancel(cid: UUID) -> Callable[[Any], Any]:
        return lambda conn: service.cancel_campaign(conn, org, cid)

    cid = draft()
    after_schedule = _hold_then_run(pool, settings, schedule(cid), cancel(cid))
    assert after_schedule.status == "cancelled" and after_schedule.scheduled_at is not None

    cid = draft()
    after_cancel = _hold_then_run(pool, settings, cancel(cid), schedule(cid))
    assert isinstance(after_cancel, PreconditionFailed)
    assert after_cancel.detail == "Campaign is cancelled; cannot schedule"
    _sends_agree(pool)
