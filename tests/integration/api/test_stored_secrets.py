"""Credentials in commands and destinations: http headers and Slack webhook URLs are encrypted at rest,
write-only, shown as has_headers / a masked URL; older plaintext rows are moved by `punctual migrate`."""

from __future__ import annotations

import json
from typing import Any

import pytest
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool

from api.cli import main
from shared.crypto import decrypt_secret
from shared.db import transaction
from shared.settings import Settings
from tests.conftest import TEST_SECRET_KEY
from tests.integration.api.conftest import Api, error
from tests.processes import settings_env

HEADERS = {"Authorization": "Bearer renderer-credential-7f3a", "X-Team": "sales"}
SLACK = "http://127.0.0.1:9/services/T000/B000/slack-credential-91c2"


def _row(pool: ConnectionPool, sql: str, *params: Any) -> Any:
    with transaction(pool) as conn:
        return conn.execute(sql, params).fetchone()  # type: ignore[arg-type]


def test_http_headers_are_write_only_and_encrypted(api: Api, pool: ConnectionPool) -> None:
    created = api.create_command(kind="http", config={"url": "http://127.0.0.1:9/r", "headers": HEADERS})
    cid = created["id"]
    assert created["config"] == {"url": "http://127.0.0.1:9/r", "method": "POST", "has_headers": True}
    config, secret = _row(pool, "SELECT config, config_secret FROM commands WHERE id = %s", cid)
    assert "headers" not in config and "renderer-credential" not in bytes(secret).decode()
    assert decrypt_secret(TEST_SECRET_KEY, secret) == {"headers": HEADERS}
    for body in (api.get(f"/v1/commands/{cid}").get_json(), api.get("/v1/commands").get_json()):
        assert "renderer-credential" not in json.dumps(body)

    # PATCH: a config without headers keeps them; new headers replace them; {} or null clears them.
    assert api.patch(f"/v1/commands/{cid}", {"config": {"url": "http://127.0.0.1:9/s"}}).get_json()[
        "config"]["has_headers"] is True
    assert decrypt_secret(TEST_SECRET_KEY, _row(pool, "SELECT config_secret FROM commands WHERE id = %s", cid)[0]) \
        == {"headers": HEADERS}
    api.patch(f"/v1/commands/{cid}", {"config": {"url": "http://127.0.0.1:9/s", "headers": {"X-New": "1"}}})
    assert decrypt_secret(TEST_SECRET_KEY, _row(pool, "SELECT config_secret FROM commands WHERE id = %s", cid)[0]) \
        == {"headers": {"X-New": "1"}}
    for cleared in ({}, None):
        answer = api.patch(f"/v1/commands/{cid}", {"config": {"url": "http://127.0.0.1:9/s", "headers": cleared}})
        assert answer.get_json()["config"]["has_headers"] is False
        assert _row(pool, "SELECT config_secret FROM commands WHERE id = %s", cid)[0] is None
        api.patch(f"/v1/commands/{cid}", {"config": {"url": "http://127.0.0.1:9/s", "headers": HEADERS}})
    # Another kind drops them.
    template = api.patch(f"/v1/commands/{cid}", {"kind": "template", "config": {"template": "hi"}}).get_json()
    assert template["config"] == {"template": "hi", "content_type": "text"}
    assert _row(pool, "SELECT config_secret FROM commands WHERE id = %s", cid)[0] is None
    assert error(api.post("/v1/commands", {"name": "c", "kind": "http", "config": {
        "url": "http://127.0.0.1:9/r", "headers": {"X": "a\nb"}}}), 400).startswith("config.headers.X:")


def test_slack_url_is_write_only_and_shown_masked(api: Api, pool: ConnectionPool) -> None:
    created = api.create_schedule(destination={"type": "slack", "url": SLACK, "text": "Weekly"})
    sid = created["id"]
    masked = "http://127.0.0.1:9/services/T000/B000/****"
    assert created["destination"] == {"type": "slack", "url": masked, "text": "Weekly", "has_secret": True}
    destination, secret = _row(pool, "SELECT destination, destination_secret FROM schedules WHERE id = %s", sid)
    assert "slack-credential" not in json.dumps(destination) and "slack-credential" not in bytes(secret).decode()
    assert decrypt_secret(TEST_SECRET_KEY, secret) == {"url": SLACK}
    for body in (api.get(f"/v1/schedules/{sid}").get_json(), api.get("/v1/schedules").get_json()):
        assert "slack-credential" not in json.dumps(body)

    # PATCH: a destination without the URL keeps it; a new URL replaces it (and is checked like any URL).
    kept = api.patch(f"/v1/schedules/{sid}", {"destination": {"type": "slack", "text": "Monthly"}}).get_json()
    assert kept["destination"] == {"type": "slack", "url": masked, "text": "Monthly", "has_secret": True}
    replaced = api.patch(f"/v1/schedules/{sid}", {"destination": {
        "type": "slack", "url": "http://127.0.0.1:9/services/T1/B1/other-credential"}}).get_json()
    assert replaced["destination"]["url"] == "http://127.0.0.1:9/services/T1/B1/****"
    assert error(api.patch(f"/v1/schedules/{sid}", {"destination": {"type": "slack", "url": "http://10.1.2.3/x"}}),
                 400).startswith("destination.url: host 10.1.2.3")
    assert error(api.post("/v1/schedules", {"name": "x", "cron_expression": "0 9 * * *",
                                            "destination": {"type": "slack", "text": "t"}}), 400) == \
        "destination.url: Missing data for required field."
    # Moving to a webhook leaves no Slack secret behind; the webhook's URL is public as before.
    hook = api.patch(f"/v1/schedules/{sid}", {"destination": {"type": "webhook", "url": "http://127.0.0.1:9/h"}})
    assert hook.get_json()["destination"] == {"type": "webhook", "url": "http://127.0.0.1:9/h", "has_secret": False}


@pytest.fixture()
def migrate_cli(settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Any:
    for key, value in settings_env(settings).items():
        monkeypatch.setenv(key, value)

    def run() -> dict[str, Any]:
        assert main(["migrate"]) == 0
        return json.loads(capsys.readouterr().out)  # type: ignore[no-any-return]

    return run


def test_migrate_encrypts_plaintext_secrets_left_by_older_versions(api: Api, pool: ConnectionPool,
                                                                   migrate_cli: Any) -> None:
    org = api.tenant.organization_id
    with transaction(pool) as conn:
        command = conn.execute(
            "INSERT INTO commands (organization_id, name, kind, config) VALUES (%s, 'old', 'http', %s) RETURNING id",
            (org, Jsonb({"url": "http://127.0.0.1:9/r", "method": "GET", "headers": HEADERS}))).fetchone()[0]
        bare = conn.execute(
            "INSERT INTO commands (organization_id, name, kind, config) VALUES (%s, 'bare', 'http', %s) RETURNING id",
            (org, Jsonb({"url": "http://127.0.0.1:9/r", "headers": {}}))).fetchone()[0]
        schedule = conn.execute(
            """INSERT INTO schedules (organization_id, name, cron_expression, destination_type, destination)
               VALUES (%s, 'old', '0 9 * * *', 'slack', %s) RETURNING id""",
            (org, Jsonb({"url": SLACK, "text": "hi"}))).fetchone()[0]
    assert migrate_cli()["encrypted"] == {"http_command_headers": 2, "slack_urls": 1}
    config, secret = _row(pool, "SELECT config, config_secret FROM commands WHERE id = %s", command)
    assert config == {"url": "http://127.0.0.1:9/r", "method": "GET"}
    assert decrypt_secret(TEST_SECRET_KEY, secret) == {"headers": HEADERS}
    assert _row(pool, "SELECT config, config_secret FROM commands WHERE id = %s", bare) == (
        {"url": "http://127.0.0.1:9/r"}, None)
    destination, secret = _row(pool, "SELECT destination, destination_secret FROM schedules WHERE id = %s", schedule)
    assert destination == {"text": "hi", "masked_url": "http://127.0.0.1:9/services/T000/B000/****"}
    assert decrypt_secret(TEST_SECRET_KEY, secret) == {"url": SLACK}
    assert api.get(f"/v1/commands/{command}").get_json()["config"]["has_headers"] is True
    assert api.get(f"/v1/schedules/{schedule}").get_json()["destination"]["url"].endswith("/B000/****")
    assert migrate_cli() == {"applied": [], "encrypted": {"http_command_headers": 0, "slack_urls": 0}}
