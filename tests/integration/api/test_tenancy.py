"""Every route, called with another organization's token and this organization's ids: 404, nothing changed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from flask import Flask
from psycopg_pool import ConnectionPool

from shared.db import transaction
from tests.integration.api.conftest import EMAIL, WEBHOOK, Api, error, insert_member
from tests.services import TABLES

PUBLIC = {"/v1/health", "/v1/openapi.json", "/v1/docs", "/v1/docs/<path:filename>",
          "/v1/docs/assets/<path:filename>"}


def _snapshot(pool: ConnectionPool) -> dict[str, list[Any]]:
    with transaction(pool) as conn:
        return {table: sorted(map(repr, conn.execute(f"SELECT * FROM {table}").fetchall())) for table in TABLES}


def _routes(app: Flask) -> set[tuple[str, str]]:
    return {(rule.rule.replace("<id:", "<"), method) for rule in app.url_map.iter_rules() if rule.rule.startswith("/v1")
            and rule.rule not in PUBLIC for method in rule.methods - {"HEAD", "OPTIONS"}}  # type: ignore[operator]


def test_every_route_hides_other_organizations(api: Api, other_api: Api, pool: ConnectionPool,
                                               flask_app: Flask) -> None:
    command = api.create_command()
    member = insert_member(pool, api.tenant.organization_id, "member@acme.example")
    schedule = api.create_schedule(command_id=command["id"], destination=EMAIL, subscriber_user_ids=[member])
    sid, cid = schedule["id"], command["id"]
    api.post(f"/v1/schedules/{sid}/trigger")
    with transaction(pool) as conn:
        run_id = str(conn.execute("SELECT id FROM runs").fetchone()[0])  # type: ignore[index]
        delivery_id = str(conn.execute(
            """INSERT INTO deliveries (organization_id, run_id, schedule_id, recipient_key, destination_type, status)
               VALUES (%s, %s, %s, 'member@acme.example', 'email', 'failed') RETURNING id""",
            (api.tenant.organization_id, run_id, sid)).fetchone()[0])  # type: ignore[index]
    own_schedule = other_api.create_schedule(destination=EMAIL)["id"]
    source = api.post("/v1/data-sources", {"name": "wh", "url": "postgresql://r:pw@127.0.0.1:5432/wh"})
    dsid = source.get_json()["id"]
    with transaction(pool) as conn:
        token_id = str(conn.execute("SELECT id FROM api_tokens WHERE organization_id = %s",
                                    (api.tenant.organization_id,)).fetchone()[0])  # type: ignore[index]
    own_tokens = [t["id"] for t in other_api.get("/v1/tokens").get_json()["records"]]
    lid = api.post("/v1/lists", {"name": "Customers"}).get_json()["id"]
    api.put(f"/v1/lists/{lid}/add-members", {"user_ids": [member]})
    segment = lid
    campaign = api.post("/v1/campaigns", {"name": "Spring", "segment_id": segment, "content": {"text": "Hi"}})
    caid = campaign.get_json()["id"]
    now = datetime.now(UTC)
    slot = now.replace(minute=now.minute - now.minute % 15, second=0, microsecond=0) + timedelta(minutes=45)
    mid = api.post("/v1/scheduled-messages", {"execute_at": slot.isoformat(), "content": {"text": "Hi"},
                                              "list_id": lid}).get_json()["id"]
    before = _snapshot(pool)

    not_found = {
        ("/v1/schedules/<schedule_id>", "GET"): lambda: other_api.get(f"/v1/schedules/{sid}"),
        ("/v1/schedules/<schedule_id>", "PATCH"): lambda: other_api.patch(f"/v1/schedules/{sid}", {"name": "x"}),
        ("/v1/schedules/<schedule_id>", "DELETE"): lambda: other_api.delete(f"/v1/schedules/{sid}"),
        ("/v1/schedules/<schedule_id>/pause", "PUT"): lambda: other_api.put(f"/v1/schedules/{sid}/pause"),
        ("/v1/schedules/<schedule_id>/resume", "PUT"): lambda: other_api.put(f"/v1/schedules/{sid}/resume"),
        ("/v1/schedules/<schedule_id>/trigger", "POST"): lambda: other_api.post(f"/v1/schedules/{sid}/trigger"),
        ("/v1/schedules/<schedule_id>/test", "POST"): lambda: other_api.post(f"/v1/schedules/{sid}/test"),
        ("/v1/schedules/<schedule_id>/add-recipients", "PUT"):
            lambda: other_api.put(f"/v1/schedules/{sid}/add-recipients", {"emails": ["x@example.com"]}),
        ("/v1/schedules/<schedule_id>/remove-recipients", "PUT"):
            lambda: other_api.put(f"/v1/schedules/{sid}/remove-recipients", {"user_ids": [member]}),
        ("/v1/schedules/<schedule_id>/runs", "GET"): lambda: other_api.get(f"/v1/schedules/{sid}/runs"),
        ("/v1/runs/<run_id>", "GET"): lambda: other_api.get(f"/v1/runs/{run_id}"),
        ("/v1/deliveries/<delivery_id>/retry", "POST"): lambda: other_api.post(f"/v1/deliveries/{delivery_id}/retry"),
        ("/v1/commands/<command_id>", "GET"): lambda: other_api.get(f"/v1/commands/{cid}"),
        ("/v1/commands/<command_id>", "PATCH"): lambda: other_api.patch(f"/v1/commands/{cid}", {"name": "x"}),
        ("/v1/commands/<command_id>", "DELETE"): lambda: other_api.delete(f"/v1/commands/{cid}"),
        ("/v1/data-sources/<data_source_id>", "GET"): lambda: other_api.get(f"/v1/data-sources/{dsid}"),
        ("/v1/data-sources/<data_source_id>", "PATCH"):
            lambda: other_api.patch(f"/v1/data-sources/{dsid}", {"name": "x"}),
        ("/v1/data-sources/<data_source_id>", "DELETE"): lambda: other_api.delete(f"/v1/data-sources/{dsid}"),
        ("/v1/users/<user_id>", "GET"): lambda: other_api.get(f"/v1/users/{member}"),
        ("/v1/users/<user_id>", "PATCH"): lambda: other_api.patch(f"/v1/users/{member}", {"name": "x"}),
        ("/v1/users/<user_id>", "DELETE"): lambda: other_api.delete(f"/v1/users/{member}"),
        ("/v1/tokens/<token_id>", "DELETE"): lambda: other_api.delete(f"/v1/tokens/{token_id}"),
        ("/v1/commands/<command_id>/schedules", "POST"): lambda: other_api.post(
            f"/v1/commands/{cid}/schedules", {"name": "x", "cron_expression": "* * * * *", "destination": WEBHOOK}),
        ("/v1/lists/<list_id>", "GET"): lambda: other_api.get(f"/v1/lists/{lid}"),
        ("/v1/lists/<list_id>", "PATCH"): lambda: other_api.patch(f"/v1/lists/{lid}", {"name": "x"}),
        ("/v1/lists/<list_id>", "DELETE"): lambda: other_api.delete(f"/v1/lists/{lid}"),
        ("/v1/lists/<list_id>/add-members", "PUT"):
            lambda: other_api.put(f"/v1/lists/{lid}/add-members", {"emails": ["x@example.com"]}),
        ("/v1/lists/<list_id>/remove-members", "PUT"):
            lambda: other_api.put(f"/v1/lists/{lid}/remove-members", {"user_ids": [member]}),
        ("/v1/scheduled-messages/<message_id>", "GET"): lambda: other_api.get(f"/v1/scheduled-messages/{mid}"),
        ("/v1/scheduled-messages/<message_id>", "PUT"): lambda: other_api.put(
            f"/v1/scheduled-messages/{mid}", {"execute_at": slot.isoformat(), "content": {"text": "x"},
                                              "to": ["x@example.com"]}),
        ("/v1/scheduled-messages/<message_id>", "DELETE"):
            lambda: other_api.delete(f"/v1/scheduled-messages/{mid}"),
    }
    not_found.update({
        ("/v1/campaigns/<campaign_id>", "GET"): lambda: other_api.get(f"/v1/campaigns/{caid}"),
        ("/v1/campaigns/<campaign_id>", "PATCH"): lambda: other_api.patch(f"/v1/campaigns/{caid}", {"name": "x"}),
        ("/v1/campaigns/<campaign_id>", "DELETE"): lambda: other_api.delete(f"/v1/campaigns/{caid}"),
        ("/v1/campaigns/<campaign_id>/schedule", "POST"):
            lambda: other_api.post(f"/v1/campaigns/{caid}/schedule", {"scheduled_at": "2099-01-01T09:00:00Z"}),
        ("/v1/campaigns/<campaign_id>/cancel", "POST"): lambda: other_api.post(f"/v1/campaigns/{caid}/cancel"),
        ("/v1/campaigns", "POST"): lambda: other_api.post(
            "/v1/campaigns", {"name": "x", "segment_id": segment, "content": {"text": "Hi"}}),
    })
    for route, call in not_found.items():
        detail = error(call(), 404)
        assert detail.endswith("does not exist"), route

    # References inside bodies answer exactly as a missing id does (400 naming the field).
    missing = "00000000-0000-0000-0000-000000000001"
    body = {"name": "x", "cron_expression": "* * * * *", "destination": WEBHOOK}
    for field, value in (("command_id", cid), ("created_by_user_id", member), ("subscriber_user_ids", [member])):
        theirs = error(other_api.post("/v1/schedules", {**body, field: value}), 400)
        unknown = error(other_api.post("/v1/schedules", {**body, field: missing if field != "subscriber_user_ids"
                                                         else [missing]}), 400)
        assert theirs.replace(str(member), "ID").replace(cid, "ID") == unknown.replace(missing, "ID"), field
    recipients = error(other_api.put(f"/v1/schedules/{own_schedule}/add-recipients", {"user_ids": [member]}), 400)
    assert recipients.startswith("Invalid recipient(s)") and member in recipients
    assert error(other_api.get(f"/v1/schedules?owner_id={member}&organization_id={api.tenant.organization_id}"),
                 400).startswith("organization_id: Does not match")

    # Listings show only the caller's own rows.
    listings = {
        ("/v1/schedules", "GET"): lambda: other_api.get(f"/v1/schedules?owner_id={member}"),
        ("/v1/commands", "GET"): lambda: other_api.get("/v1/commands"),
        ("/v1/users", "GET"): lambda: other_api.get("/v1/users"),
        ("/v1/user-attributes", "GET"): lambda: other_api.get("/v1/user-attributes"),
        ("/v1/data-sources", "GET"): lambda: other_api.get("/v1/data-sources"),
        ("/v1/campaigns", "GET"): lambda: other_api.get("/v1/campaigns"),
        ("/v1/lists", "GET"): lambda: other_api.get("/v1/lists"),
        ("/v1/scheduled-messages", "GET"): lambda: other_api.get("/v1/scheduled-messages"),
    }
    for route, call in listings.items():
        response = call()
        assert response.status_code == 200 and response.get_json()["records"] == [], route
    # Tokens: the caller's own only (it has one: the token it calls with).
    tokens = other_api.get("/v1/tokens").get_json()["records"]
    assert len(own_tokens) == 1 and [t["id"] for t in tokens] == own_tokens and token_id not in own_tokens
    listings[("/v1/tokens", "GET")] = lambda: other_api.get("/v1/tokens")
    # System health holds no tenant's data (counts across the system, for operators).
    assert other_api.get("/v1/health/detail").status_code in (200, 503)
    system = {("/v1/health/detail", "GET")}
    # The organization routes read and change the caller's own organization only.
    assert other_api.get("/v1/organization").get_json()["id"] == other_api.tenant.organization_id
    assert other_api.patch("/v1/organization", {}).get_json()["id"] == other_api.tenant.organization_id
    system |= {("/v1/organization", "GET"), ("/v1/organization", "PATCH")}

    # Creation routes act only inside the caller's organization (checked by the snapshot below).
    creating = {("/v1/schedules", "POST"), ("/v1/commands", "POST"), ("/v1/users/email-only", "POST"),
                ("/v1/users/email-only/bulk", "POST"), ("/v1/user-attributes", "POST"), ("/v1/cron/preview", "GET"),
                ("/v1/data-sources", "POST"), ("/v1/users", "POST"), ("/v1/lists", "POST"),
                ("/v1/scheduled-messages", "POST")}
    walked = set(not_found) | set(listings) | creating | system
    assert _routes(flask_app) - walked == set(), "a route is not covered by the tenancy walk"
    assert _snapshot(pool) == before
