"""API tokens: created, listed, revoked and expired; a token tied to a member user owns what it creates."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient
from psycopg_pool import ConnectionPool

from api.cli import main
from shared.db import transaction
from shared.settings import Settings
from tests.conftest import Tenant
from tests.integration.api.conftest import WEBHOOK, Api, error, insert_member
from tests.processes import settings_env


@pytest.fixture()
def cli(settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Any:
    """`punctual ...` in this process: (exit code, parsed stdout or None, stderr)."""
    for key, value in settings_env(settings).items():
        monkeypatch.setenv(key, value)

    def run(*args: str) -> tuple[int, Any, str]:
        code = main(list(args))
        out, err = capsys.readouterr()
        return code, json.loads(out) if out.strip() else None, err

    return run


def _token_api(client: FlaskClient, organization_id: str, token: str) -> Api:
    return Api(client, Tenant(organization_id, token))


def test_tokens_are_listed_without_the_token_and_revoked_at_once(api: Api, other_api: Api, cli: Any,
                                                                 client: FlaskClient) -> None:
    org = api.tenant.organization_id
    code, created, _ = cli("tokens", "create", "--org", org, "--name", "ci", "--expires-in", "30")
    assert code == 0 and created["token"].startswith("pk_") and created["name"] == "ci"
    expires = datetime.fromisoformat(created["expires_at"])
    assert timedelta(days=29, hours=23) < expires - datetime.now(UTC) <= timedelta(days=30)
    second = _token_api(client, org, created["token"])
    assert second.get("/v1/schedules").status_code == 200

    listed = api.get("/v1/tokens").get_json()
    records = {t["id"]: t for t in listed["records"]}
    assert listed["page_info"]["total_records"] == 2 and set(records) >= {created["id"]}
    ci = records[created["id"]]
    assert set(ci) == {"id", "organization_id", "name", "token_prefix", "user_id", "created_at", "last_used_at",
                       "expires_at", "revoked_at"}
    assert ci["token_prefix"] == created["token"][:10] and ci["last_used_at"] is not None
    assert ci["revoked_at"] is None and ci["user_id"] is None
    assert created["token"] not in json.dumps(listed)

    # Another organization's token is a 404 (as a missing one); revoking is immediate and idempotent.
    assert error(other_api.delete(f"/v1/tokens/{created['id']}"), 404) == \
        f"Token with id {created['id']} does not exist"
    assert second.get("/v1/schedules").status_code == 200
    assert api.delete(f"/v1/tokens/{created['id']}").status_code == 204
    assert error(second.get("/v1/schedules"), 401) == "Invalid or revoked token"
    assert api.delete(f"/v1/tokens/{created['id']}").status_code == 204
    assert error(api.delete("/v1/tokens/nope"), 400) == "token_id: Invalid uuid"
    revoked = next(t for t in api.get("/v1/tokens").get_json()["records"] if t["id"] == created["id"])
    assert revoked["revoked_at"] is not None


def test_cli_revokes_and_refuses_bad_arguments(api: Api, cli: Any, client: FlaskClient) -> None:
    org = api.tenant.organization_id
    _, created, _ = cli("tokens", "create", "--org", org)
    code, revoked, _ = cli("tokens", "revoke", created["id"])
    assert code == 0 and revoked["id"] == created["id"] and revoked["revoked_at"] is not None
    assert error(_token_api(client, org, created["token"]).get("/v1/schedules"), 401) == "Invalid or revoked token"
    assert cli("tokens", "revoke", created["id"])[0] == 0  # already revoked: nothing changes
    assert cli("tokens", "revoke", "00000000-0000-0000-0000-000000000009")[2] == \
        "error: token 00000000-0000-0000-0000-000000000009 does not exist\n"
    assert cli("tokens", "revoke", "x")[0] == 2
    assert cli("tokens", "create", "--org", org, "--expires-in", "0")[2] == \
        "error: --expires-in must be 1 to 3650 days\n"
    assert cli("tokens", "create", "--org", org, "--user", "x")[2] == "error: --user must be a user id (uuid)\n"


def test_an_expired_token_answers_401_token_expired(api: Api, pool: ConnectionPool) -> None:
    assert api.get("/v1/schedules").status_code == 200
    with transaction(pool) as conn:
        conn.execute("UPDATE api_tokens SET expires_at = now() - interval '1 second'")
    assert error(api.get("/v1/schedules"), 401) == "Token expired"


def test_a_users_token_owns_the_schedules_it_creates(api: Api, other_api: Api, cli: Any, client: FlaskClient,
                                                     pool: ConnectionPool) -> None:
    org = api.tenant.organization_id
    member = insert_member(pool, org, "pat@example.com")
    email_only = api.post("/v1/users/email-only", {"email": "eo@example.com"}).get_json()["id"]
    theirs = insert_member(pool, other_api.tenant.organization_id, "them@example.com")
    for user in (email_only, theirs):
        code, _, err = cli("tokens", "create", "--org", org, "--user", user)
        assert code == 2 and err == f"error: user {user} is not a member user of organization {org}\n"
    _, created, _ = cli("tokens", "create", "--org", org, "--user", member)
    assert created["user_id"] == member
    pat = _token_api(client, org, created["token"])

    body = {"name": "Mine", "cron_expression": "0 9 * * *", "destination": WEBHOOK}
    owned = pat.post("/v1/schedules", body).get_json()
    assert owned["created_by_user_id"] == member
    command = pat.create_command()
    assert pat.post(f"/v1/commands/{command['id']}/schedules", body).get_json()["created_by_user_id"] == member
    assert pat.post("/v1/schedules", {**body, "created_by_user_id": member}).status_code == 201
    other_member = insert_member(pool, org, "sam@example.com")
    for value in (other_member, None):
        assert error(pat.post("/v1/schedules", {**body, "created_by_user_id": value}), 400) == \
            f"created_by_user_id: Must be the token's own user ({member}) or omitted"
    assert error(pat.patch(f"/v1/schedules/{owned['id']}", {"created_by_user_id": other_member}), 400).startswith(
        "created_by_user_id: Must be the token's own user")
    assert pat.patch(f"/v1/schedules/{owned['id']}", {"name": "Still mine"}).get_json()["created_by_user_id"] == member
    # An organization-wide token may name any member, or none.
    assert api.post("/v1/schedules", {**body, "created_by_user_id": other_member}).get_json()[
        "created_by_user_id"] == other_member
    assert api.post("/v1/schedules", body).get_json()["created_by_user_id"] is None
    assert next(t for t in api.get("/v1/tokens").get_json()["records"] if t["id"] == created["id"])[
        "user_id"] == member
