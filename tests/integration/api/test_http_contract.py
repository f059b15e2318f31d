"""What every endpoint shares: auth, tenant ids, rate limits, body limits, bad JSON, docs."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import pytest
from flask import Flask
from flask.testing import FlaskClient
from psycopg_pool import ConnectionPool

from api.app import create_app
from shared.db import transaction
from shared.settings import Settings
from shared.sql.organizations import revoke_token
from tests.conftest import Tenant, make_tenant
from tests.integration.api.conftest import WEBHOOK, Api, error


def test_tokens_missing_malformed_unknown_or_revoked_answer_401(client: FlaskClient, pool: ConnectionPool) -> None:
    tenant = make_tenant(pool)
    cases = [{}, {"Authorization": "Basic abc"}, {"Authorization": "Bearer"}, {"Authorization": "Bearer a b"},
             {"Authorization": "Bearer pk_unknown"}]
    for headers in cases:
        response = client.get("/v1/schedules", headers=headers)
        error(response, 401)
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert client.get("/v1/schedules", headers=tenant.headers).status_code == 200
    with transaction(pool) as conn:
        token_id = conn.execute("SELECT id FROM api_tokens").fetchone()[0]  # type: ignore[index]
        assert revoke_token(conn, token_id=token_id, organization_id=tenant.organization_id)  # type: ignore[arg-type]
    assert error(client.get("/v1/schedules", headers=tenant.headers), 401) == "Invalid or revoked token"
    assert error(client.get("/v1/nowhere", headers=tenant.headers), 404) == "Not found: no such route"
    assert client.get("/v1/health").status_code in (200, 503)


def test_organization_id_must_be_the_tokens(api: Api, other_api: Api) -> None:
    own = api.tenant.organization_id
    other = other_api.tenant.organization_id
    body = {"name": "x", "cron_expression": "* * * * *", "destination": WEBHOOK}
    assert api.post("/v1/schedules", {**body, "organization_id": own}).status_code == 201
    assert error(api.post("/v1/schedules", {**body, "organization_id": other}), 400) == \
        "organization_id: Does not match the organization of the token (body)"
    assert error(api.post("/v1/schedules", {**body, "organization_id": "nope"}), 400) == \
        "organization_id: Invalid uuid"
    assert api.get(f"/v1/schedules?organization_id={own}").status_code == 200
    assert error(api.get(f"/v1/users?organization_id={other}"), 400).startswith("organization_id: Does not match")
    assert api.get("/v1/schedules").get_json()["page_info"]["total_records"] == 1


def test_bad_bodies_answer_400_or_413(api: Api, base_settings: Settings) -> None:
    headers = {"Content-Type": "application/json"}
    for raw in (b"{", b"{'a': 1}", b"\xff\xfe", b'{"name": "x",}'):
        assert error(api.call("POST", "/v1/schedules", data=raw, headers=headers), 400) == "Invalid JSON", raw
    for value in ([], "x", 3, None, [{"name": "x"}]):
        detail = error(api.post("/v1/schedules", value), 400)
        assert detail, value
    for value in ([], "x"):
        error(api.put("/v1/schedules/00000000-0000-0000-0000-000000000001/add-recipients", value), 400)
        error(api.post("/v1/users/email-only/bulk", value), 400)
    deep = b"[" * 100_000 + b"]" * 100_000
    error(api.call("POST", "/v1/schedules", data=deep, headers=headers), 400)
    nul = {"name": "a\u0000b", "cron_expression": "* * * * *", "destination": WEBHOOK}
    assert error(api.post("/v1/schedules", nul), 400).startswith("Strings may not contain NUL")
    surrogate = b'{"name": "\\ud800", "cron_expression": "* * * * *", "destination": {"type": "email"}}'
    assert error(api.call("POST", "/v1/schedules", data=surrogate, headers=headers), 400).startswith("Strings")
    assert error(api.get("/v1/schedules?q=a%00b"), 400).startswith("Strings may not contain NUL")
    for number in (b"NaN", b"Infinity", b"-Infinity"):
        raw = b'{"email": "a@example.com", "user_attributes": {"n": ' + number + b"}}"
        assert error(api.call("POST", "/v1/users/email-only", data=raw, headers=headers), 400).startswith(
            "Invalid JSON: NaN")
    big = b'{"name": "' + b"x" * base_settings.max_body_bytes + b'"}'
    assert error(api.call("POST", "/v1/schedules", data=big, headers=headers), 413) == "Request body too large"
    assert error(api.call("DELETE", "/v1/schedules"), 405) == "Method not allowed"
    assert api.get("/v1/schedules").get_json()["records"] == []


@pytest.fixture()
def limited_app(base_settings: Settings, clean: None) -> Iterator[Flask]:
    app = create_app(replace(base_settings, rate_limit="3 per minute", auth_failure_limit="3 per minute"))
    yield app
    app.extensions["punctual_pool"].close()


def test_rate_limit_is_per_token_across_every_route(limited_app: Flask, pool: ConnectionPool) -> None:
    client = limited_app.test_client()
    first, second = make_tenant(pool, "A"), make_tenant(pool, "B")
    for path in ("/v1/schedules", "/v1/commands", "/v1/users"):  # one budget for all routes
        assert client.get(path, headers=first.headers).status_code == 200
    limited = client.get("/v1/user-attributes", headers=first.headers)
    assert error(limited, 429) == "Rate limit exceeded: 3 per 1 minute per token (PUNCTUAL_RATE_LIMIT)"
    assert 0 < int(limited.headers["Retry-After"]) <= 60
    assert client.get("/v1/schedules", headers=second.headers).status_code == 200  # another token: own budget
    assert client.get("/v1/health").status_code in (200, 503)  # unauthenticated routes are not limited


def test_failed_authentication_is_limited_per_client_address(limited_app: Flask, pool: ConnectionPool) -> None:
    client = limited_app.test_client()
    tenant = make_tenant(pool)
    attacker = {"REMOTE_ADDR": "192.0.2.7"}
    for headers in ({}, {"Authorization": "Bearer pk_guess1"}, {"Authorization": "Bearer pk_guess2"}):
        error(client.get("/v1/schedules", headers=headers, environ_base=attacker), 401)
    # Over the limit, the address is refused whatever it sends, so a right guess cannot be told from a wrong one.
    for headers in ({"Authorization": "Bearer pk_guess3"}, tenant.headers):
        refused = client.get("/v1/schedules", headers=headers, environ_base=attacker)
        assert error(refused, 429) == ("Too many failed authentications from this address: at most 3 per 1 minute "
                                       "(PUNCTUAL_AUTH_FAILURE_LIMIT)")
        assert 0 < int(refused.headers["Retry-After"]) <= 61
    # Another address is not affected, and successes do not count.
    for _ in range(3):
        assert client.get("/v1/schedules", headers=tenant.headers,
                          environ_base={"REMOTE_ADDR": "192.0.2.8"}).status_code == 200
    with transaction(pool) as conn:
        conn.execute("UPDATE api_tokens SET expires_at = now() - interval '1 second'")
    for _ in range(3):
        assert error(client.get("/v1/commands", headers=tenant.headers,
                                environ_base={"REMOTE_ADDR": "192.0.2.9"}), 401) == "Token expired"
    assert error(client.get("/v1/commands", headers=tenant.headers,
                            environ_base={"REMOTE_ADDR": "192.0.2.9"}), 429).startswith("Too many failed")


def test_openapi_document_and_offline_docs(client: FlaskClient, tenant: Tenant) -> None:
    spec = client.get("/v1/openapi.json").get_json()
    paths = spec["paths"]
    for path in ("/v1/schedules", "/v1/schedules/{schedule_id}", "/v1/schedules/{schedule_id}/pause",
                 "/v1/schedules/{schedule_id}/add-recipients", "/v1/commands/{command_id}/schedules",
                 "/v1/users/email-only/bulk", "/v1/user-attributes", "/v1/cron/preview", "/v1/runs/{run_id}"):
        assert path in paths, path
    error_schema = spec["components"]["schemas"]["Error"]
    assert set(error_schema["required"]) == {"detail", "status"}
    create = paths["/v1/schedules"]["post"]
    assert create["responses"]["400"]
    request_schema = spec["components"]["schemas"]["ScheduleCreate"]["properties"]
    assert {"command_id", "cron_expression", "execute_at", "destination", "filters", "alert", "test_now",
            "misfire_policy", "retry", "format_options", "subscriber_user_ids"} <= set(request_schema)
    assert "password" not in spec["components"]["schemas"]["DestinationOut"]["properties"]
    page = client.get("/v1/docs")
    assert page.status_code == 200 and b"/v1/docs/assets/swagger-ui-bundle.js" in page.data
    asset = client.get("/v1/docs/assets/swagger-ui-bundle.js")
    assert asset.status_code == 200 and len(asset.data) > 100_000
    asset.close()
