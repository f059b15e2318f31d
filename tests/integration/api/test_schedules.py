"""Schedules over HTTP on a real database: create, read, update, delete, and every validation error."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from psycopg_pool import ConnectionPool

from shared.crypto import decrypt_secret
from shared.db import transaction
from tests.conftest import TEST_SECRET_KEY
from tests.integration.api.conftest import EMAIL, WEBHOOK, Api, error, insert_member

SFTP = {"type": "sftp", "host": "127.0.0.1", "username": "u", "password": "hunter2",
        "host_key": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"}
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def _one_shot_slot() -> str:
    now = datetime.now(UTC)
    slot = now.replace(minute=now.minute - now.minute % 15, second=0, microsecond=0) + timedelta(minutes=45)
    return slot.isoformat()


def test_minimal_create_answers_201_with_next_run_time(api: Api) -> None:
    response = api.post("/v1/schedules", {
        "name": "Every minute", "cron_expression": "* * * * *", "timezone": "Europe/London",
        "destination": {"type": "webhook", "url": "http://127.0.0.1:9/hook"}, "run_mode": "once_distribute"})
    body = response.get_json()
    assert response.status_code == 201, body
    next_run = datetime.fromisoformat(body["next_run_time"])
    assert timedelta(0) < next_run - datetime.now(UTC) <= timedelta(seconds=61)
    assert body["enabled"] is True and body["misfire_policy"] == "run_once" and body["format"] == "json"
    assert body["destination"] == {"type": "webhook", "url": "http://127.0.0.1:9/hook", "has_secret": False}
    assert body["recipient_count"] == 0 and body["last_run_time"] is None and body["last_status"] is None
    assert body["retry"] == {"max_attempts": 5, "base_delay_s": 30.0, "max_delay_s": 3600.0}
    assert api.get(f"/v1/schedules/{body['id']}").get_json() == body


def test_create_with_every_field(api: Api, pool: ConnectionPool) -> None:
    command = api.create_command()
    owner = insert_member(pool, api.tenant.organization_id, "owner@example.com", "Olive Owner")
    member = insert_member(pool, api.tenant.organization_id, "m@example.com")
    body = api.create_schedule(
        command_id=command["id"], organization_id=api.tenant.organization_id, name="Sales by region",
        cron_expression="0 9 ? * 2 *", timezone="America/New_York", enabled=True, run_mode="per_subscriber",
        fan_out=True, subscriber_user_ids=[member], destination=EMAIL, format="csv",
        format_options={"delimiter": ";", "include_header": True}, filters={"region": "emea"},
        alert={"condition": "results_present"}, misfire_policy="run_all",
        retry={"max_attempts": 3, "base_delay_s": 1, "max_delay_s": 60}, created_by_user_id=owner)
    assert body["command_id"] == command["id"] and body["created_by_user_id"] == owner
    assert body["recipient_count"] == 1 and body["fan_out"] is True and body["kind"] == "cron"
    assert body["alert"] == {"condition": "results_present"} and body["filters"] == {"region": "emea"}
    assert body["format_options"] == {"delimiter": ";", "include_header": True}
    assert body["retry"] == {"max_attempts": 3, "base_delay_s": 1.0, "max_delay_s": 60.0}
    next_run = datetime.fromisoformat(body["next_run_time"])
    assert next_run.astimezone(UTC).hour in (13, 14) and next_run.weekday() == 0  # 09:00 New York, Monday


def test_secrets_are_write_only_and_stored_encrypted(api: Api, pool: ConnectionPool) -> None:
    body = api.create_schedule(destination=SFTP)
    assert body["destination"]["has_secret"] is True and "password" not in body["destination"]
    assert body["destination"]["port"] == 22 and body["destination"]["directory"] == "/"
    hook = api.create_schedule(destination={**WEBHOOK, "secret": SECRET})
    assert "secret" not in hook["destination"] and hook["destination"]["has_secret"] is True
    with transaction(pool) as conn:
        rows = dict(conn.execute("SELECT id::text, destination_secret FROM schedules").fetchall())
        public = conn.execute("SELECT destination::text FROM schedules").fetchall()
    assert decrypt_secret(TEST_SECRET_KEY, rows[body["id"]]) == {"password": "hunter2"}
    assert decrypt_secret(TEST_SECRET_KEY, rows[hook["id"]]) == {"secret": SECRET}
    assert not any("hunter2" in p[0] or SECRET in p[0] for p in public)
    # A PATCH that does not repeat the secret keeps it.
    patched = api.patch(f"/v1/schedules/{body['id']}", {"destination": {**SFTP, "password": None,
                                                                         "directory": "/out"}})
    assert patched.status_code == 200 and patched.get_json()["destination"]["has_secret"] is True
    with transaction(pool) as conn:
        kept = conn.execute("SELECT destination_secret FROM schedules WHERE id = %s", (body["id"],)).fetchone()
    assert kept is not None and decrypt_secret(TEST_SECRET_KEY, kept[0]) == {"password": "hunter2"}


def test_one_shot_with_execute_at(api: Api) -> None:
    slot = _one_shot_slot()
    body = api.create_schedule(cron_expression=None, execute_at=slot)
    assert body["kind"] == "one_shot"
    assert datetime.fromisoformat(body["next_run_time"]) == datetime.fromisoformat(slot)
    assert "15-minute boundary" in error(api.post("/v1/schedules", {
        "name": "x", "execute_at": "2031-01-01T10:07:00Z", "destination": WEBHOOK}), 400)
    assert error(api.post("/v1/schedules", {"name": "x", "execute_at": slot, "cron_expression": "* * * * *",
                                            "destination": WEBHOOK}), 400).startswith("cron_expression:")


def test_test_now_queues_a_test_run(api: Api, pool: ConnectionPool) -> None:
    body = api.create_schedule(test_now=True)
    with transaction(pool) as conn:
        runs = conn.execute("SELECT trigger, is_test, status FROM runs WHERE schedule_id = %s",
                            (body["id"],)).fetchall()
    assert runs == [("test", True, "pending")]
    detail = error(api.post("/v1/schedules", {"name": "x", "cron_expression": "* * * * *", "destination": WEBHOOK,
                                              "alert": {"condition": "results_changed"}, "test_now": True}), 400)
    assert detail == "Test delivery not supported for condition type results_changed"
    assert api.get("/v1/schedules").get_json()["page_info"]["total_records"] == 1


def test_validation_messages_name_the_field(api: Api) -> None:
    command = api.create_command()
    base = {"name": "x", "cron_expression": "* * * * *", "destination": WEBHOOK}
    cases = [
        ({**base, "command_id": command["id"], "filters": {"region2": "x"}},
         "Invalid filter keys found in schedule configuration: region2. Available filter keys are: region, team"),
        ({**base, "format": "json", "format_options": {"delimiter": ";"}},
         "format_options: Option delimiter is not compatible with format json (supported options: indent)"),
        ({**base, "format": "csv", "format_options": {"delimiter": ";;"}}, "format_options.delimiter: Must be"),
        ({**base, "name": "n" * 256}, "name: Length must be between 1 and 255."),
        ({**base, "timezone": "Mars/Olympus"}, "timezone: Time zone must be IANA valid."),
        ({**base, "cron_expression": "61 * * * *"}, "cron_expression:"),
        ({**base, "run_mode": "sometimes"}, "run_mode: Must be one of"),
        ({**base, "misfire_policy": "never"}, "misfire_policy: Must be one of"),
        ({**base, "alert": {"condition": "always"}}, "alert.condition: Must be one of"),
        ({**base, "retry": {"max_attempts": 0}}, "retry.max_attempts:"),
        ({**base, "retry": {"base_delay_s": 100, "max_delay_s": 10}}, "retry.base_delay_s:"),
        ({**base, "destination": {"type": "pigeon"}}, "destination.type: Must be one of"),
        ({**base, "destination": {"type": "webhook"}}, "destination.url: Missing data for required field."),
        ({**base, "destination": {"type": "webhook", "url": "ftp://x"}}, "destination.url: must be an http"),
        ({**base, "destination": {"type": "webhook", "url": "http://10.1.2.3/x"}}, "destination.url: host 10.1.2.3"),
        ({**base, "destination": {**WEBHOOK, "secret": "nope"}}, "destination.secret:"),
        ({**base, "destination": {**WEBHOOK, "host": "x"}}, "destination.host: Not a field of destination type"),
        ({**base, "destination": {**SFTP, "host_key": "nope"}}, "destination.host_key:"),
        ({**base, "destination": {**SFTP, "host_key": SFTP["host_key"].replace("ssh-ed25519", "ssh-rsa")}},
         "destination.host_key:"),
        ({**base, "destination": {**SFTP, "host_key": SFTP["host_key"][:40]}}, "destination.host_key:"),
        ({**base, "destination": {**SFTP, "password": None}}, "destination.password: Either password"),
        ({**base, "destination": {**SFTP, "port": 70000}}, "destination.port:"),
        ({**base, "destination": {**SFTP, "host": "10.1.2.3"}},
         "destination.host: host 10.1.2.3 resolves to a private"),
        ({**base, "destination": {**SFTP, "host": "[::ffff:192.168.0.9]"}},
         "destination.host: host [::ffff:192.168.0.9]"),
        ({**base, "command_id": "nope"}, "command_id: Invalid uuid"),
        ({**base, "command_id": "00000000-0000-0000-0000-000000000001"}, "command_id: Command with id"),
        ({**base, "subscriber_user_ids": ["nope"]}, "subscriber_user_ids: Invalid uuid"),
        ({**base, "subscriber_user_ids": ["00000000-0000-0000-0000-000000000001"]},
         "Invalid recipient(s): The following members do not exist or do not have access to this organization: "
         "00000000-0000-0000-0000-000000000001"),
        ({**base, "created_by_user_id": "00000000-0000-0000-0000-000000000001"}, "created_by_user_id: User"),
        ({**base, "surprise": 1}, "surprise: Unknown field."),
        ({"cron_expression": "* * * * *", "destination": WEBHOOK}, "name: Missing data for required field."),
        ({"name": "x", "destination": WEBHOOK}, "cron_expression: Missing data for required field"),
    ]
    for body, expected in cases:
        assert error(api.post("/v1/schedules", body), 400).startswith(expected), body
    assert api.get("/v1/schedules").get_json()["records"] == []


def test_get_patch_delete_and_their_errors(api: Api) -> None:
    body = api.create_schedule()
    sid = body["id"]
    assert error(api.get("/v1/schedules/nope"), 400) == "schedule_id: Invalid uuid"
    missing = "00000000-0000-0000-0000-00000000abcd"
    assert error(api.get(f"/v1/schedules/{missing}"), 404) == f"Schedule with id {missing} does not exist"
    assert error(api.patch(f"/v1/schedules/{missing}", {"name": "y"}), 404).startswith("Schedule with id")

    renamed = api.patch(f"/v1/schedules/{sid}", {"name": "Renamed"}).get_json()
    assert renamed["name"] == "Renamed" and renamed["next_run_time"] == body["next_run_time"]
    moved = api.patch(f"/v1/schedules/{sid}", {"cron_expression": "30 6 * * *", "timezone": "Asia/Kolkata"})
    next_run = datetime.fromisoformat(moved.get_json()["next_run_time"])
    assert (next_run.astimezone(UTC).hour, next_run.astimezone(UTC).minute) == (1, 0)
    assert error(api.patch(f"/v1/schedules/{sid}", {"timezone": "Nowhere/Land"}), 400).startswith("timezone:")
    assert error(api.patch(f"/v1/schedules/{sid}", {"name": None}), 400).startswith("name:")
    assert error(api.patch(f"/v1/schedules/{sid}", {"format": "xlsx", "format_options": {"indent": 2}}),
                 400).startswith("format_options: Option indent is not compatible with format xlsx")

    assert api.delete(f"/v1/schedules/{sid}").status_code == 204
    assert error(api.get(f"/v1/schedules/{sid}"), 404) == f"Schedule with id {sid} does not exist"
    assert error(api.delete(f"/v1/schedules/{sid}"), 404).startswith("Schedule with id")


def test_patch_filters_are_checked_against_the_command(api: Api) -> None:
    command = api.create_command()
    sid = api.create_schedule(command_id=command["id"])["id"]
    assert api.patch(f"/v1/schedules/{sid}", {"filters": {"team": "a"}}).get_json()["filters"] == {"team": "a"}
    detail = error(api.patch(f"/v1/schedules/{sid}", {"filters": {"colour": "red"}}), 400)
    assert detail == ("Invalid filter keys found in schedule configuration: colour. "
                      "Available filter keys are: region, team")


def test_create_under_a_command(api: Api) -> None:
    command = api.create_command()
    response = api.post(f"/v1/commands/{command['id']}/schedules",
                        {"name": "Nested", "cron_expression": "0 * * * *", "destination": WEBHOOK})
    assert response.status_code == 201 and response.get_json()["command_id"] == command["id"]
    missing = "00000000-0000-0000-0000-000000000009"
    assert error(api.post(f"/v1/commands/{missing}/schedules", {"name": "x", "cron_expression": "* * * * *",
                                                                "destination": WEBHOOK}), 404).startswith("Command")
