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
    assert json.loads(migrated.stdout) == {"applied": []}

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


def test_health_reports_database_and_broker(client: FlaskClient) -> None:
    response = client.get("/v1/health")
    assert response.status_code == 200
    body = response.get_json()
    assert body["database"]["ok"] is True and body["broker"]["ok"] is True
    assert "last_tick_at" in body["beat"]


def test_make_test_and_readme_agree() -> None:
    root = Path(__file__).resolve().parents[2]
    readme = (root / "README.md").read_text()
    assert "make run" in readme and "make test" in readme
    makefile = (root / "Makefile").read_text()
    assert "\ntest: install" in makefile and "\nrun: install" in makefile
    assert "make test" in (root / ".ci" / "run").read_text()
