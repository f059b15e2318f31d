"""The foundation: settings, migrations, the CLI, error bodies and health, on real PostgreSQL."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import psycopg
import pytest
from flask.testing import FlaskClient

from shared.errors import ConfigError
from shared.migrate import apply_migrations, list_migrations
from shared.settings import Settings, load_settings
from tests.conftest import Tenant
from tests.processes import BIN, settings_env
from tests.services import RedisServer


def test_settings_name_the_missing_variable() -> None:
    with pytest.raises(ConfigError, match="DATABASE_URL"):
        load_settings({"REDIS_URL": "redis://x", "PUNCTUAL_SECRET_KEY": "k" * 20,
                       "PUNCTUAL_DATA_DIR": "/nonexistent"})
    with pytest.raises(ConfigError, match="PORT must be an integer"):
        load_settings({"DATABASE_URL": "postgresql://x", "REDIS_URL": "redis://x",
                       "PUNCTUAL_SECRET_KEY": "k" * 20, "PORT": "eighty"})
    with pytest.raises(ConfigError, match="PUNCTUAL_SMTP_TLS"):
        load_settings({"DATABASE_URL": "postgresql://x", "REDIS_URL": "redis://x",
                       "PUNCTUAL_SECRET_KEY": "k" * 20, "PUNCTUAL_SMTP_TLS": "maybe"})


def test_limits_quotas_and_binding_settings_are_parsed_strictly() -> None:
    base = {"DATABASE_URL": "postgresql://x", "REDIS_URL": "redis://x", "PUNCTUAL_SECRET_KEY": "k" * 20}
    defaults = load_settings(base)
    assert (defaults.host, defaults.rate_limit, defaults.auth_failure_limit) == ("127.0.0.1", "600 per minute",
                                                                                 "20 per minute")
    assert (defaults.quota_schedules, defaults.quota_recipients_per_schedule, defaults.quota_runs_triggered_per_hour,
            defaults.quota_deliveries_per_hour) == (10_000, 1_000, 1_000, 100_000)
    assert defaults.flower_basic_auth is None and defaults.dev_mode is False
    given = load_settings({**base, "HOST": "0.0.0.0", "PUNCTUAL_QUOTA_SCHEDULES": "0",
                           "PUNCTUAL_FLOWER_BASIC_AUTH": "ops:s3cret,ci:pw", "PUNCTUAL_RATE_LIMIT": "10/second"})
    assert (given.host, given.quota_schedules, given.flower_basic_auth) == ("0.0.0.0", 0, "ops:s3cret,ci:pw")
    for name, value in (("HOST", "0.0.0.0; rm"), ("PUNCTUAL_RATE_LIMIT", "lots"), ("PUNCTUAL_AUTH_FAILURE_LIMIT", "x"),
                        ("PUNCTUAL_QUOTA_SCHEDULES", "-1"), ("PUNCTUAL_QUOTA_DELIVERIES_PER_HOUR", "many"),
                        ("PUNCTUAL_FLOWER_BASIC_AUTH", "ops"), ("PUNCTUAL_FLOWER_BASIC_AUTH", "ops:"),
                        ("PUNCTUAL_DEV", "yes")):
        with pytest.raises(ConfigError, match=name):
            load_settings({**base, name: value})


def test_migrate_twice_is_a_no_op(database_url: str) -> None:
    with psycopg.connect(database_url) as conn:
        assert apply_migrations(conn) == []
        names = [r[0] for r in conn.execute("SELECT name FROM schema_migrations ORDER BY name")]
    assert names == [p.name for p in list_migrations()]


def _cli(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN / "punctual"), *args], env=settings_env(settings), capture_output=True,
                          text=True, timeout=60)


def test_cli_creates_organization_and_token_that_authenticates(settings: Settings, client: FlaskClient) -> None:
    migrated = _cli(settings, "migrate")
    assert migrated.returncode == 0, migrated.stderr
    assert json.loads(migrated.stdout) == {"applied": [], "encrypted": {"http_command_headers": 0, "slack_urls": 0}}

    org = _cli(settings, "orgs", "create", "Initech")
    assert org.returncode == 0, org.stderr
    org_id = json.loads(org.stdout)["id"]
    token = _cli(settings, "tokens", "create", "--org", org_id, "--name", "ci")
    assert token.returncode == 0, token.stderr
    body = json.loads(token.stdout)
    assert body["organization_id"] == org_id and body["token"].startswith("pk_")

    response = client.get("/v1/schedules/00000000-0000-0000-0000-000000000000",
                          headers={"Authorization": f"Bearer {body['token']}"})
    assert response.status_code == 404  # authenticated: the schedule is simply missing

    with psycopg.connect(settings.database_url) as conn:
        stored = conn.execute("SELECT token_hash FROM api_tokens WHERE organization_id = %s", (org_id,)).fetchone()
    assert stored is not None and body["token"].encode() not in bytes(stored[0])


def test_cli_rejects_unknown_organization(settings: Settings, clean: None) -> None:
    result = _cli(settings, "tokens", "create", "--org", "00000000-0000-0000-0000-000000000000")
    assert result.returncode == 2
    assert "does not exist" in result.stderr


def _assert_error(response, status: int, detail_part: str) -> None:  # type: ignore[no-untyped-def]
    assert response.status_code == status, response.get_data(as_text=True)
    body = response.get_json()
    assert set(body) == {"detail", "status"}
    assert body["status"] == status
    assert detail_part in body["detail"]


def test_unknown_route_answers_standard_404(client: FlaskClient, tenant: Tenant) -> None:
    _assert_error(client.get("/v1/nothing-here", headers=tenant.headers), 404, "Not found")
    _assert_error(client.get("/nowhere"), 404, "Not found")


def test_wrong_method_answers_standard_405(client: FlaskClient, tenant: Tenant) -> None:
    _assert_error(client.delete("/v1/health"), 405, "Method not allowed")


@pytest.mark.parametrize("header", [None, "Bearer", "Basic abc", "Bearer pk_unknown", "Bearer a b"])
def test_missing_or_bad_token_answers_standard_401(client: FlaskClient, header: str | None) -> None:
    headers = {"Authorization": header} if header else {}
    _assert_error(client.post("/v1/schedules", headers=headers, json={}), 401, "")


def test_malformed_json_answers_standard_400(client: FlaskClient, tenant: Tenant) -> None:
    response = client.post("/v1/schedules", headers={**tenant.headers, "Content-Type": "application/json"},
                           data=b'{"name": "x",')
    _assert_error(response, 400, "Invalid JSON")


def test_health_says_up_to_anybody_and_details_to_a_token(client: FlaskClient, tenant: Tenant) -> None:
    response = client.get("/v1/health")
    assert response.status_code == 200 and response.get_json() == {"status": "ok"}
    assert client.get("/v1/health?detail=true").get_json() == {"status": "ok"}
    _assert_error(client.get("/v1/health/detail"), 401, "Missing Authorization header")
    body = client.get("/v1/health/detail", headers=tenant.headers).get_json()
    assert body["status"] == "ok" and body["database"]["ok"] is True and body["broker"]["ok"] is True
    assert "last_tick_at" in body["beat"] and "pending_runs" in body["beat"]


def test_health_is_503_degraded_when_the_broker_is_down(client: FlaskClient, tenant: Tenant,
                                                        redis_server: RedisServer) -> None:
    redis_server.stop()
    try:
        response = client.get("/v1/health")
        assert response.status_code == 503 and response.get_json() == {"status": "degraded"}
        detail = client.get("/v1/health/detail", headers=tenant.headers)
        assert detail.status_code == 503 and detail.get_json()["broker"] == {"ok": False, "error": "ConnectionError"}
    finally:
        redis_server.start()


def test_openapi_documents_both_health_answers(client: FlaskClient) -> None:
    spec = client.get("/v1/openapi.json").get_json()
    for path in ("/v1/health", "/v1/health/detail"):
        responses = spec["paths"][path]["get"]["responses"]
        assert {"200", "503"} <= set(responses), path
        for code in ("200", "503"):
            assert responses[code]["content"]["application/json"]["schema"], (path, code)
    assert spec["paths"]["/v1/health"]["get"]["security"] == []


def test_make_test_and_readme_agree() -> None:
    root = Path(__file__).resolve().parents[2]
    readme = (root / "README.md").read_text()
    assert "make run" in readme and "make test" in readme
    makefile = (root / "Makefile").read_text()
    assert "\ntest: install" in makefile and "\nrun: install" in makefile
    assert "make test" in (root / ".ci" / "run").read_text()
