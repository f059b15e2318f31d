"""Time zones over HTTP: legacy abbreviations refused wherever a zone is given, UTC and IANA names kept."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import quote

import pytest

from tests.integration.api.conftest import WEBHOOK, Api, error

EST = 'timezone: The timezone EST is not supported. Use e.g. "America/New_York" instead of "EST"'


def refused(name: str, suggestion: str) -> str:
    return f'timezone: The timezone {name} is not supported. Use e.g. {suggestion} instead of "{name}"'


@pytest.mark.parametrize(
    ("name", "suggestion"),
    [("EST", '"America/New_York"'), ("MST", '"America/Denver" or "America/Phoenix"'),
     ("HST", '"Pacific/Honolulu"'), ("EST5EDT", '"America/New_York"'), ("CST6CDT", '"America/Chicago"'),
     ("MST7MDT", '"America/Denver"'), ("PST8PDT", '"America/Los_Angeles"'), ("CET", '"Europe/Paris"')],
)
def test_schedule_create_refuses_a_legacy_zone(api: Api, name: str, suggestion: str) -> None:
    body = {"name": "Daily", "cron_expression": "0 9 * * *", "timezone": name, "destination": WEBHOOK}
    assert error(api.post("/v1/schedules", body), 400) == refused(name, suggestion)
    assert api.get("/v1/schedules").get_json()["records"] == []


def test_schedule_create_keeps_utc_and_iana_zones(api: Api) -> None:
    for zone in ("UTC", "Etc/UTC", "America/New_York", "America/Phoenix"):
        assert api.create_schedule(timezone=zone)["timezone"] == zone


def test_schedule_patch_refuses_a_legacy_zone_and_changes_nothing(api: Api) -> None:
    created = api.create_schedule(timezone="America/New_York")
    sid = created["id"]
    assert error(api.patch(f"/v1/schedules/{sid}", {"timezone": "EST"}), 400) == EST
    assert error(api.patch(f"/v1/schedules/{sid}", {"timezone": "EST", "cron_expression": "0 8 * * *"}),
                 400) == EST
    one_shot = api.create_schedule(cron_expression=None, execute_at="2099-01-01T09:00:00Z")
    assert error(api.patch(f"/v1/schedules/{one_shot['id']}", {"timezone": "PST8PDT"}), 400) == \
        refused("PST8PDT", '"America/Los_Angeles"')
    assert api.get(f"/v1/schedules/{sid}").get_json() == created
    assert api.patch(f"/v1/schedules/{sid}", {"timezone": "UTC"}).get_json()["timezone"] == "UTC"


def test_email_only_user_refuses_a_legacy_zone(api: Api) -> None:
    assert error(api.post("/v1/users/email-only", {"email": "a@example.com", "timezone": "EST"}), 400) == EST
    assert error(api.post("/v1/users/email-only", {"email": "a@example.com", "timezone": "HST"}), 400) == \
        refused("HST", '"Pacific/Honolulu"')
    bulk = api.post("/v1/users/email-only/bulk", {"users": [{"email": "b@example.com", "timezone": "UTC"},
                                                            {"email": "c@example.com", "timezone": "MST"}]})
    assert error(bulk, 400) == "users.1: " + refused("MST", '"America/Denver" or "America/Phoenix"')
    assert api.get("/v1/users").get_json()["records"] == []
    user = api.post("/v1/users/email-only", {"email": "a@example.com", "timezone": "UTC"}).get_json()
    assert user["timezone"] == "UTC"
    assert error(api.post("/v1/users/email-only", {"email": "a@example.com", "timezone": "EST5EDT"}), 400) == \
        refused("EST5EDT", '"America/New_York"')
    assert api.get("/v1/users").get_json()["records"][0]["timezone"] == "UTC"


def test_cron_preview_refuses_a_legacy_zone(api: Api) -> None:
    assert error(api.get("/v1/cron/preview?expression=" + quote("0 9 * * *") + "&timezone=EST"), 400) == EST
    body = api.get("/v1/cron/preview?expression=" + quote("0 9 * * *") + "&timezone=Etc/UTC").get_json()
    assert len(body["next_run_times"]) == 5


def test_cron_preview_and_schedules_take_nearest_and_last_weekday(api: Api) -> None:
    body = api.get("/v1/cron/preview?expression=" + quote("0 9 15W * *") + "&timezone=America/New_York&after="
                   + quote("2026-02-01T00:00:00Z") + "&count=2").get_json()
    assert body["next_run_times"] == ["2026-02-16T14:00:00+00:00", "2026-03-16T13:00:00+00:00"]
    assert body["description"] == "At 09:00, on the weekday nearest day 15 of the month"
    created = api.create_schedule(cron_expression="15 8 LW * ? *", timezone="Europe/London")
    next_run = datetime.fromisoformat(created["next_run_time"]).astimezone(UTC)
    assert next_run.weekday() < 5 and (next_run.minute, next_run.second) == (15, 0)
    assert error(api.post("/v1/schedules", {"name": "x", "cron_expression": "0 9 1,15W * *",
                                            "destination": WEBHOOK}), 400).startswith(
        "cron_expression: Schedule is an invalid cron expression (W takes one day")
