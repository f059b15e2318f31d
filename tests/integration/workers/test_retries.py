"""Retries: every attempt recorded, backoff kept in PostgreSQL and swept, permanent errors fail at once."""

from __future__ import annotations

import uuid

from flask import Flask

from shared.db import transaction
from tests.conftest import make_tenant
from tests.integration.workers.conftest import World
from tests.processes import wait_for
from tests.servers import HttpSink, ReceivedRequest


def fails_twice(request: ReceivedRequest, index: int) -> tuple[int, dict[str, str], bytes]:
    return (503, {}, b"busy") if index < 2 else (200, {}, b"ok")


def test_server_failing_twice_is_delivered_at_attempt_three(world: World, http_sink: HttpSink) -> None:
    http_sink.responder = fails_twice
    sid = world.schedule({"type": "webhook", "url": f"{http_sink.url}/flaky"}, retry_max_attempts=5)
    run = world.wait_run(world.fire(sid))

    assert run["status"] == "complete"
    [delivery] = world.deliveries(run["id"])
    assert delivery["status"] == "delivered" and delivery["attempts"] == 3
    attempts = world.attempts(delivery["id"])
    assert [(a["outcome"], a["response_code"]) for a in attempts] == [("retry", 503), ("retry", 503),
                                                                      ("delivered", 200)]
    assert all(a["duration_ms"] is not None and a["started_at"] for a in attempts)
    assert attempts[0]["error"] == "HTTP 503 from webhook"
    ids = {r.headers["webhook-id"] for r in http_sink.requests}
    assert len(ids) == 1  # the same idempotency key on every attempt


def test_client_error_fails_at_once(world: World, http_sink: HttpSink) -> None:
    http_sink.responder = lambda request, index: (400, {}, b"bad request")
    sid = world.schedule({"type": "webhook", "url": f"{http_sink.url}/strict"}, retry_max_attempts=5)
    run = world.wait_run(world.fire(sid))

    assert run["status"] == "error_delivered"
    [delivery] = world.deliveries(run["id"])
    assert delivery["status"] == "failed" and delivery["attempts"] == 1
    assert world.attempts(delivery["id"])[0]["response_code"] == 400
    assert len(http_sink.requests) == 1


def test_exhausted_attempts_fail_and_retry_after_is_honoured(world: World, http_sink: HttpSink) -> None:
    http_sink.responder = lambda request, index: (429, {"Retry-After": "1"}, b"slow down")
    sid = world.schedule({"type": "webhook", "url": f"{http_sink.url}/limited"}, retry_max_attempts=2,
                         retry_base_delay_s=0.01, retry_max_delay_s=5)
    run = world.wait_run(world.fire(sid))

    [delivery] = world.deliveries(run["id"])
    assert delivery["status"] == "failed" and delivery["attempts"] == 2
    first, second = world.attempts(delivery["id"])
    assert (second["started_at"] - first["started_at"]).total_seconds() >= 1.0  # waited as asked


def test_failed_delivery_is_retried_by_hand(world: World, http_sink: HttpSink, flask_app: Flask) -> None:
    http_sink.responder = lambda request, index: (400, {}, b"bad") if index == 0 else (200, {}, b"ok")
    tenant = make_tenant(world.pool, "Acme API")
    world.org = uuid.UUID(tenant.organization_id)
    sid = world.schedule({"type": "webhook", "url": f"{http_sink.url}/later"}, retry_max_attempts=2)
    run = world.wait_run(world.fire(sid))
    [delivery] = world.deliveries(run["id"])
    assert delivery["status"] == "failed" and run["status"] == "error_delivered"
    client = flask_app.test_client()

    response = client.post(f"/v1/deliveries/{delivery['id']}/retry", headers=tenant.headers)
    assert response.status_code == 200 and response.json == {"success": True}

    wait_for(lambda: world.deliveries(run["id"])[0]["status"] == "delivered")
    assert [a["outcome"] for a in world.attempts(delivery["id"])] == ["failed", "delivered"]
    assert wait_for(lambda: world.run(run["id"])["status"] == "complete")
    again = client.post(f"/v1/deliveries/{delivery['id']}/retry", headers=tenant.headers)
    assert again.status_code == 409 and "only failed deliveries" in again.json["detail"]
    other = make_tenant(world.pool, "Globex")
    assert client.post(f"/v1/deliveries/{delivery['id']}/retry", headers=other.headers).status_code == 404


def test_lost_delivery_message_is_republished_by_the_sweep(world: World, http_sink: HttpSink) -> None:
    # A delivery row whose message never reached Redis (a crash between commit and publish).
    sid = world.schedule({"type": "webhook", "url": f"{http_sink.url}/lost"})
    with transaction(world.pool) as conn:
        run_id = conn.execute(
            """INSERT INTO runs (organization_id, schedule_id, scheduled_for, status, started_at, expanded_at)
               VALUES (%s, %s, now(), 'running', now(), now()) RETURNING id""", (world.org, sid)).fetchone()[0]
        artifact = conn.execute(
            """INSERT INTO artifacts (organization_id, run_id, content_type, filename, sha256, size_bytes, body)
               VALUES (%s, %s, 'application/json', 'a.json', 'x', 2, '{}') RETURNING id""",
            (world.org, run_id)).fetchone()[0]
        conn.execute(
            """INSERT INTO deliveries (organization_id, run_id, schedule_id, recipient_key, destination_type,
                                       artifact_id, publish_after)
               VALUES (%s, %s, %s, 'destination', 'webhook', %s, now() - interval '1 second')""",
            (world.org, run_id, sid, artifact))

    run = world.wait_run(run_id)
    assert run["status"] == "complete" and len(http_sink.requests) == 1
