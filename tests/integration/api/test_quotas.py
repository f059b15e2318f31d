"""Organization quotas over HTTP: counts answer 400 and rates 429, each naming its quota; at the limit two
concurrent requests never both pass."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

import pytest
from flask import Flask
from psycopg_pool import ConnectionPool

from api.app import create_app
from shared.db import transaction
from shared.settings import Settings
from tests.conftest import Tenant, make_tenant
from tests.integration.api.conftest import EMAIL, WEBHOOK, Api, error


@pytest.fixture()
def quota_app(base_settings: Settings, clean: None) -> Iterator[Flask]:
    app = create_app(replace(base_settings, quota_schedules=3, quota_recipients_per_schedule=3,
                             quota_runs_triggered_per_hour=3))
    yield app
    app.extensions["punctual_pool"].close()


@pytest.fixture()
def quota_api(quota_app: Flask, pool: ConnectionPool) -> Api:
    return Api(quota_app.test_client(), make_tenant(pool))


def _at_once(app: Flask, tenant: Tenant, calls: list[Callable[[Api], Any]]) -> list[Any]:
    """Run each call on its own client and thread, released together."""
    barrier = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)

    def run(index: int) -> None:
        api = Api(app.test_client(), tenant)
        barrier.wait()
        results[index] = calls[index](api)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return results


def test_schedules_quota_refuses_the_one_too_many(quota_api: Api, pool: ConnectionPool) -> None:
    for _ in range(3):
        quota_api.create_schedule()
    refused = quota_api.post("/v1/schedules", {"name": "x", "cron_expression": "* * * * *", "destination": WEBHOOK})
    assert error(refused, 400) == ("Quota exceeded: at most 3 schedules per organization (PUNCTUAL_QUOTA_SCHEDULES); "
                                   "this would make 4")
    command = quota_api.create_command()
    assert error(quota_api.post(f"/v1/commands/{command['id']}/schedules", {
        "name": "x", "cron_expression": "* * * * *", "destination": WEBHOOK}), 400).startswith("Quota exceeded")
    # Deleted schedules do not count; another organization has its own quota.
    first = quota_api.get("/v1/schedules").get_json()["records"][0]["id"]
    assert quota_api.delete(f"/v1/schedules/{first}").status_code == 204
    quota_api.create_schedule()
    Api(quota_api.client, make_tenant(pool, "Globex")).create_schedule()
    with transaction(pool) as conn:
        assert conn.execute("SELECT count(*) FROM schedules WHERE deleted_at IS NULL").fetchone()[0] == 4  # type: ignore[index]


def test_two_creates_at_the_limit_never_both_pass(quota_app: Flask, quota_api: Api) -> None:
    for _ in range(2):
        quota_api.create_schedule()
    body = {"name": "race", "cron_expression": "0 9 * * *", "destination": WEBHOOK}
    for _ in range(15):
        answers = _at_once(quota_app, quota_api.tenant, [lambda api: api.post("/v1/schedules", body)] * 2)
        statuses = sorted(a.status_code for a in answers)
        assert statuses == [201, 400], [a.get_json() for a in answers]
        created = next(a for a in answers if a.status_code == 201).get_json()["id"]
        assert quota_api.delete(f"/v1/schedules/{created}").status_code == 204
    assert quota_api.get("/v1/schedules").get_json()["page_info"]["total_records"] == 2


def test_recipients_quota_on_create_update_and_add(quota_api: Api) -> None:
    users = [quota_api.post("/v1/users", {"email": f"m{i}@example.com"}).get_json()["id"] for i in range(4)]
    detail = error(quota_api.post("/v1/schedules", {"name": "x", "cron_expression": "0 9 * * *", "destination": EMAIL,
                                                    "subscriber_user_ids": users}), 400)
    assert detail == ("Quota exceeded: at most 3 recipients per schedule (PUNCTUAL_QUOTA_RECIPIENTS_PER_SCHEDULE); "
                      "this would make 4")
    schedule = quota_api.create_schedule(destination=EMAIL, subscriber_user_ids=users[:2])
    sid = schedule["id"]
    assert error(quota_api.patch(f"/v1/schedules/{sid}", {"subscriber_user_ids": users}), 400).startswith(
        "Quota exceeded: at most 3 recipients per schedule")
    added = quota_api.put(f"/v1/schedules/{sid}/add-recipients", {"emails": ["a@example.com", "b@example.com"]})
    assert error(added, 400).startswith("Quota exceeded: at most 3 recipients per schedule")
    # Nothing of the refused call stayed: no subscription, no email-only user.
    assert quota_api.get(f"/v1/schedules/{sid}").get_json()["recipient_count"] == 2
    assert quota_api.get("/v1/users?kind=email_only").get_json()["records"] == []
    assert quota_api.put(f"/v1/schedules/{sid}/add-recipients", {"emails": ["a@example.com"]}).status_code == 200
    assert quota_api.put(f"/v1/schedules/{sid}/add-recipients", {"user_ids": users[:2]}).status_code == 200


def test_triggered_runs_quota_answers_429_with_retry_after(quota_api: Api, pool: ConnectionPool) -> None:
    sid = quota_api.create_schedule(test_now=True)["id"]
    assert quota_api.post(f"/v1/schedules/{sid}/trigger").status_code == 200
    assert quota_api.post(f"/v1/schedules/{sid}/test").status_code == 200
    for path in (f"/v1/schedules/{sid}/trigger", f"/v1/schedules/{sid}/test"):
        refused = quota_api.post(path)
        assert error(refused, 429) == ("Quota exceeded: at most 3 runs triggered per hour per organization "
                                       "(PUNCTUAL_QUOTA_RUNS_TRIGGERED_PER_HOUR); 3 in the last hour")
        assert 3500 < int(refused.headers["Retry-After"]) <= 3601
    assert error(quota_api.post("/v1/schedules", {"name": "x", "cron_expression": "0 9 * * *", "destination": WEBHOOK,
                                                  "test_now": True}), 429).startswith("Quota exceeded")
    with transaction(pool) as conn:
        assert conn.execute("SELECT count(*) FROM runs").fetchone()[0] == 3  # type: ignore[index]
        assert conn.execute("SELECT count(*) FROM schedules").fetchone()[0] == 1  # type: ignore[index]
        # Runs older than an hour leave the window.
        conn.execute("UPDATE runs SET created_at = now() - interval '61 minutes'")
    assert quota_api.post(f"/v1/schedules/{sid}/trigger").status_code == 200


def test_concurrent_triggers_at_the_limit_never_both_pass(quota_app: Flask, quota_api: Api,
                                                          pool: ConnectionPool) -> None:
    sid = quota_api.create_schedule()["id"]
    for _ in range(10):
        with transaction(pool) as conn:
            conn.execute("DELETE FROM runs")
        quota_api.post(f"/v1/schedules/{sid}/trigger")
        quota_api.post(f"/v1/schedules/{sid}/trigger")
        answers = _at_once(quota_app, quota_api.tenant, [lambda api: api.post(f"/v1/schedules/{sid}/trigger")] * 2)
        assert sorted(a.status_code for a in answers) == [200, 429]
