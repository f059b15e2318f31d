"""Pause, resume, trigger, test delivery and recipients over HTTP on a real database."""

from __future__ import annotations

import select
from datetime import UTC, datetime, timedelta

import psycopg
from psycopg_pool import ConnectionPool

from shared.db import transaction
from shared.settings import Settings
from tests.integration.api.conftest import EMAIL, Api, error, insert_member

MISSING = "00000000-0000-0000-0000-0000000000ff"


def test_pause_and_resume(api: Api, pool: ConnectionPool) -> None:
    sid = api.create_schedule(cron_expression="*/5 * * * *")["id"]
    paused = api.put(f"/v1/schedules/{sid}/pause").get_json()
    assert paused["paused_at"] is not None and paused["next_run_time"] is None
    assert api.get(f"/v1/schedules/{sid}").get_json()["next_run_time"] is None
    assert error(api.put(f"/v1/schedules/{sid}/pause"), 400) == "Schedule is already paused"
    with transaction(pool) as conn:  # a pause of a day: many slots were missed meanwhile
        conn.execute("UPDATE schedules SET next_run_at = now() - interval '1 day' WHERE id = %s", (sid,))
    resumed = api.put(f"/v1/schedules/{sid}/resume").get_json()
    assert resumed["paused_at"] is None
    next_run = datetime.fromisoformat(resumed["next_run_time"])
    assert timedelta(0) < next_run - datetime.now(UTC) <= timedelta(minutes=5)  # from now: no burst
    with transaction(pool) as conn:  # and what beat reads is that same slot
        stored = conn.execute("SELECT next_run_at FROM schedules WHERE id = %s", (sid,)).fetchone()
    assert stored == (next_run,)
    assert error(api.put(f"/v1/schedules/{sid}/resume"), 400) == "Schedule is already resumed"
    with transaction(pool) as conn:
        conn.execute("UPDATE schedules SET system_disabled_at = now(), system_disabled_reason = 'failing' "
                     "WHERE id = %s", (sid,))
    assert api.get(f"/v1/schedules/{sid}").get_json()["next_run_time"] is None
    assert error(api.put(f"/v1/schedules/{sid}/pause"), 400) == "Schedule is system disabled"
    with transaction(pool) as conn:
        conn.execute("UPDATE schedules SET paused_at = now() WHERE id = %s", (sid,))
        runs = conn.execute("SELECT count(*) FROM runs WHERE schedule_id = %s", (sid,)).fetchone()
    assert runs == (0,)
    assert error(api.put(f"/v1/schedules/{sid}/resume"), 400) == "Schedule is system disabled"
    reenabled = api.patch(f"/v1/schedules/{sid}", {"enabled": True}).get_json()
    assert reenabled["system_disabled_at"] is None and reenabled["system_disabled_reason"] is None
    assert reenabled["next_run_time"] is None  # still paused
    resumed = api.put(f"/v1/schedules/{sid}/resume").get_json()
    assert resumed["paused_at"] is None and datetime.fromisoformat(resumed["next_run_time"]) > datetime.now(UTC)
    assert error(api.put(f"/v1/schedules/{MISSING}/pause"), 404) == f"Schedule with id {MISSING} does not exist"
    assert error(api.put("/v1/schedules/x/resume"), 400) == "schedule_id: Invalid uuid"


def test_disabled_schedule_shows_no_next_run_and_re_enabling_starts_from_now(api: Api, pool: ConnectionPool) -> None:
    sid = api.create_schedule(cron_expression="*/5 * * * *")["id"]
    disabled = api.patch(f"/v1/schedules/{sid}", {"enabled": False}).get_json()
    assert disabled["enabled"] is False and disabled["next_run_time"] is None
    listed = api.get("/v1/schedules?sort_field=next_run_time").get_json()["records"]
    assert [r["next_run_time"] for r in listed] == [None]
    with transaction(pool) as conn:  # disabled for a day: its stored slot is long past
        conn.execute("UPDATE schedules SET next_run_at = now() - interval '1 day' WHERE id = %s", (sid,))
    enabled = api.patch(f"/v1/schedules/{sid}", {"enabled": True}).get_json()
    next_run = datetime.fromisoformat(enabled["next_run_time"])
    assert timedelta(0) < next_run - datetime.now(UTC) <= timedelta(minutes=5)
    with transaction(pool) as conn:
        stored = conn.execute("SELECT next_run_at FROM schedules WHERE id = %s", (sid,)).fetchone()
    assert stored == (next_run,)


def test_trigger_and_test_insert_runs_and_wake_beat(api: Api, pool: ConnectionPool, settings: Settings) -> None:
    sid = api.create_schedule()["id"]
    with psycopg.connect(settings.database_url, autocommit=True) as listener:
        listener.execute("LISTEN punctual_wakeup")
        assert api.post(f"/v1/schedules/{sid}/trigger").get_json() == {"success": True}
        assert api.post(f"/v1/schedules/{sid}/test").get_json() == {"success": True}
        ready, _, _ = select.select([listener.fileno()], [], [], 5)
        assert ready and list(listener.notifies(timeout=1, stop_after=1))
    with transaction(pool) as conn:
        runs = conn.execute("SELECT trigger, is_test FROM runs WHERE schedule_id = %s ORDER BY created_at",
                            (sid,)).fetchall()
        last = conn.execute("SELECT last_run_at FROM schedules WHERE id = %s", (sid,)).fetchone()
    assert runs == [("manual", False), ("test", True)]
    assert last == (None,)
    changed = api.create_schedule(alert={"condition": "results_changed"})["id"]
    assert error(api.post(f"/v1/schedules/{changed}/test"), 400) == \
        "Test delivery not supported for condition type results_changed"
    assert error(api.post(f"/v1/schedules/{MISSING}/trigger"), 404).startswith("Schedule with id")
    assert error(api.post(f"/v1/schedules/{MISSING}/test"), 404).startswith("Schedule with id")


def test_add_and_remove_recipients(api: Api, pool: ConnectionPool) -> None:
    sid = api.create_schedule(destination=EMAIL)["id"]
    member = insert_member(pool, api.tenant.organization_id, "Member@Example.com")
    added = api.put(f"/v1/schedules/{sid}/add-recipients",
                    {"emails": ["new@example.com", "member@example.com"], "user_ids": [member]})
    assert added.get_json() == {"added_recipients_count": 2, "success": True}
    again = api.put(f"/v1/schedules/{sid}/add-recipients", {"emails": ["NEW@example.com"]})
    assert again.get_json() == {"added_recipients_count": 0, "success": True}
    assert api.get(f"/v1/schedules/{sid}").get_json()["recipient_count"] == 2
    with transaction(pool) as conn:
        users = conn.execute("SELECT lower(email), kind FROM users ORDER BY 1").fetchall()
    assert users == [("member@example.com", "member"), ("new@example.com", "email_only")]

    removed = api.put(f"/v1/schedules/{sid}/remove-recipients", {"emails": ["new@example.com"]})
    assert removed.get_json() == {"removed_recipients_count": 1, "success": True}
    assert api.get(f"/v1/schedules/{sid}").get_json()["recipient_count"] == 1


def test_recipient_errors(api: Api) -> None:
    sid = api.create_schedule(destination=EMAIL)["id"]
    hook = api.create_schedule()["id"]
    url = f"/v1/schedules/{sid}/add-recipients"
    empty = "Please provide either valid email addresses, valid user IDs, or both"
    assert error(api.put(url, {}), 400) == empty
    assert error(api.put(url, {"emails": [], "user_ids": []}), 400) == empty
    assert error(api.put(url, {"emails": ["not-an-email"]}), 400) == "emails: Invalid email address"
    assert error(api.put(url, {"emails": [42]}), 400) == "emails: Invalid email address"
    assert error(api.put(url, {"user_ids": ["nope"]}), 400) == "user_ids: Invalid uuid"
    assert error(api.put(url, {"user_ids": [MISSING]}), 400) == (
        "Invalid recipient(s): The following members do not exist or do not have access to this organization: "
        f"{MISSING}")
    assert error(api.put(f"/v1/schedules/{hook}/add-recipients", {"emails": ["a@example.com"]}), 400) == \
        "Cannot add recipients to destination type webhook"
    assert error(api.put(f"/v1/schedules/{hook}/remove-recipients", {"emails": ["a@example.com"]}), 400) == \
        "Cannot remove recipients from destination type webhook"
    assert error(api.put(f"/v1/schedules/{sid}/remove-recipients", {}), 400) == empty
    assert error(api.put(f"/v1/schedules/{MISSING}/add-recipients", {"emails": ["a@example.com"]}), 404)
    assert api.get(f"/v1/schedules/{sid}").get_json()["recipient_count"] == 0


def test_run_detail_and_its_errors(api: Api, pool: ConnectionPool) -> None:
    sid = api.create_schedule()["id"]
    api.post(f"/v1/schedules/{sid}/trigger")
    with transaction(pool) as conn:
        run_id, org = conn.execute("SELECT id, organization_id FROM runs").fetchone()  # type: ignore[misc]
        delivery = conn.execute(
            """INSERT INTO deliveries (organization_id, run_id, schedule_id, recipient_key, destination_type,
                                       status, attempts)
               VALUES (%s, %s, %s, 'hook', 'webhook', 'delivered', 2) RETURNING id""",
            (org, run_id, sid)).fetchone()[0]  # type: ignore[index]
        conn.execute("""INSERT INTO delivery_attempts (organization_id, delivery_id, attempt_number, outcome, error,
                                                       response_code)
                        VALUES (%s, %s, 1, 'retry', 'HTTP 503', 503), (%s, %s, 2, 'delivered', NULL, 200)""",
                     (org, delivery, org, delivery))
    body = api.get(f"/v1/runs/{run_id}").get_json()
    assert body["trigger"] == "manual" and body["schedule_id"] == sid
    log = body["deliveries"][0]["attempts_log"]
    assert [(a["attempt_number"], a["outcome"], a["error"], a["response_code"]) for a in log] == [
        (1, "retry", "HTTP 503", 503), (2, "delivered", None, 200)]
    assert all(a["started_at"] for a in log)
    assert error(api.get("/v1/runs/nope"), 400) == "run_id: Invalid uuid"
    assert error(api.get(f"/v1/runs/{MISSING}"), 404) == f"Run with id {MISSING} does not exist"


def test_paused_schedules_sort_last_by_next_run_time_across_pages(api: Api) -> None:
    soon = api.create_schedule(name="soon", cron_expression="*/5 * * * *")["id"]
    paused = api.create_schedule(name="paused", cron_expression="*/5 * * * *")["id"]
    later = api.create_schedule(name="later", cron_expression="0 0 1 1 *")["id"]
    api.put(f"/v1/schedules/{paused}/pause")
    seen, cursor = [], None
    while True:
        query = "/v1/schedules?sort_field=next_run_time&page_size=1" + (f"&cursor={cursor}" if cursor else "")
        page = api.get(query).get_json()
        seen += [(r["id"], r["next_run_time"] is None) for r in page["records"]]
        if not page["page_info"]["has_next_page"]:
            break
        cursor = page["page_info"]["next_cursor"]
    assert seen == [(soon, False), (later, False), (paused, True)]
