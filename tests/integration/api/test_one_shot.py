"""One-shot schedules: fired once, they refuse to be re-armed; pause and resume keep an unfired one's slot."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from psycopg_pool import ConnectionPool

from beat.planner import plan_schedule
from shared.db import transaction
from shared.sql import runs as run_sql
from shared.sql import schedules as schedule_sql
from tests.integration.api.conftest import Api, error


def _slot(minutes_ahead: int = 45) -> str:
    now = datetime.now(UTC)
    slot = now.replace(minute=now.minute - now.minute % 15, second=0, microsecond=0)
    return (slot + timedelta(minutes=minutes_ahead)).isoformat()


def fire_due_now(pool: ConnectionPool, schedule_id: str) -> None:
    """Let the schedule's slot come (its next_run_at moved to now) and fire it the way beat does."""
    with transaction(pool) as conn:
        conn.execute("UPDATE schedules SET next_run_at = now() WHERE id = %s", (schedule_id,))
    with transaction(pool) as conn:
        due = schedule_sql.claim_due_schedules(conn, 100)
        assert [str(d.id) for d in due] == [schedule_id]
        runs, advance = plan_schedule(due[0], due[0].db_now, 10)
        run_sql.insert_runs(conn, runs)
        schedule_sql.advance_schedules(conn, [advance])


def _runs(pool: ConnectionPool, schedule_id: str) -> int:
    with transaction(pool) as conn:
        row = conn.execute("SELECT count(*) FROM runs WHERE schedule_id = %s", (schedule_id,)).fetchone()
    assert row is not None
    return int(row[0])


def test_fired_one_shot_refuses_a_new_execute_at_with_its_state(api: Api, pool: ConnectionPool) -> None:
    created = api.create_schedule(cron_expression=None, execute_at=_slot())
    fire_due_now(pool, created["id"])
    detail = error(api.patch(f"/v1/schedules/{created['id']}", {"execute_at": _slot(60)}), 409)
    assert detail.startswith("execute_at: ") and "already fired" in detail
    detail = error(api.patch(f"/v1/schedules/{created['id']}", {"cron_expression": "* * * * *"}), 409)
    assert detail.startswith("cron_expression: ") and "already fired" in detail
    after = api.get(f"/v1/schedules/{created['id']}").get_json()
    assert after["next_run_time"] is None and after["kind"] == "one_shot"
    # Edits that do not give it another slot are still allowed, and re-arm nothing.
    renamed = api.patch(f"/v1/schedules/{created['id']}", {"name": "Renamed", "timezone": "Europe/Paris"})
    assert renamed.status_code == 200 and renamed.get_json()["next_run_time"] is None
    assert api.put(f"/v1/schedules/{created['id']}/pause").status_code == 200
    assert api.put(f"/v1/schedules/{created['id']}/resume").get_json()["next_run_time"] is None
    with transaction(pool) as conn:
        assert schedule_sql.claim_due_schedules(conn, 100) == []
    assert _runs(pool, created["id"]) == 1


def test_pause_then_resume_keeps_an_unfired_one_shots_slot(api: Api) -> None:
    slot = _slot()
    created = api.create_schedule(cron_expression=None, execute_at=slot)
    paused = api.put(f"/v1/schedules/{created['id']}/pause").get_json()
    assert paused["next_run_time"] is None
    resumed = api.put(f"/v1/schedules/{created['id']}/resume").get_json()
    assert datetime.fromisoformat(resumed["next_run_time"]) == datetime.fromisoformat(slot)
    # Moved while paused, it resumes at its new slot.
    later = _slot(90)
    assert api.put(f"/v1/schedules/{created['id']}/pause").status_code == 200
    assert api.patch(f"/v1/schedules/{created['id']}", {"execute_at": later}).status_code == 200
    resumed = api.put(f"/v1/schedules/{created['id']}/resume").get_json()
    assert datetime.fromisoformat(resumed["next_run_time"]) == datetime.fromisoformat(later)


def test_unfired_one_shot_moves_to_a_new_slot(api: Api) -> None:
    created = api.create_schedule(cron_expression=None, execute_at=_slot())
    later = _slot(120)
    moved = api.patch(f"/v1/schedules/{created['id']}", {"execute_at": later}).get_json()
    assert datetime.fromisoformat(moved["next_run_time"]) == datetime.fromisoformat(later)


def test_cron_that_ran_out_is_rearmed_by_a_new_expression(api: Api, pool: ConnectionPool) -> None:
    created = api.create_schedule(cron_expression="0 9 * * MON")
    with transaction(pool) as conn:
        conn.execute("UPDATE schedules SET done_at = now(), next_run_at = NULL WHERE id = %s", (created["id"],))
    assert api.patch(f"/v1/schedules/{created['id']}", {"execute_at": _slot()}).status_code == 200
    assert api.put(f"/v1/schedules/{created['id']}/pause").status_code == 200
    resumed = api.put(f"/v1/schedules/{created['id']}/resume").get_json()
    assert resumed["next_run_time"] is not None
