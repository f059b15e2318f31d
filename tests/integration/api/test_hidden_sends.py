"""The hidden schedules that carry out sends: out of every schedules route, listing and quota; their state
derived from the schedule and its run; edits and cancels refused, naming the state, once fired."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from uuid import UUID

import pytest
from psycopg_pool import ConnectionPool

from api.services import sends as send_service
from shared.db import transaction
from shared.errors import InvalidInput, NotFound, StateConflict
from shared.sends import parse_content, parse_target
from shared.sql import sends as send_sql
from shared.sql.quotas import count_live_schedules
from shared.sql.schedules import claim_due_schedules
from shared.statuses import SendStatus
from tests.integration.api.conftest import Api, error
from tests.integration.api.test_one_shot import fire_due_now


def _slot(minutes: int = 45) -> datetime:
    now = datetime.now(UTC)
    return now.replace(minute=now.minute - now.minute % 15, second=0, microsecond=0) + timedelta(minutes=minutes)


def _create(pool: ConnectionPool, org: str, owner: str = "campaign") -> UUID:
    with transaction(pool) as conn:
        return send_service.create_send(
            conn, UUID(org), owner=owner, name="Spring sale", content=parse_content({"text": "Hello"}),
            target=parse_target({"to": ["a@example.com"]}), execute_at=_slot(), created_by=None)


def test_hidden_schedule_is_not_a_users_schedule(api: Api, pool: ConnectionPool) -> None:
    schedule_id = _create(pool, api.tenant.organization_id)
    assert api.get("/v1/schedules").get_json()["records"] == []
    assert api.get("/v1/schedules").get_json()["page_info"]["total_records"] == 0
    for method, path in (("GET", ""), ("PATCH", ""), ("DELETE", ""), ("PUT", "/pause"), ("PUT", "/resume"),
                         ("POST", "/trigger"), ("GET", "/runs"), ("PUT", "/add-recipients")):
        body = {"name": "x"} if method == "PATCH" else {"emails": ["x@example.com"]} if path else None
        assert error(api.call(method, f"/v1/schedules/{schedule_id}{path}", body), 404), (method, path)
    with transaction(pool) as conn:
        state = send_sql.get_send_state(conn, UUID(api.tenant.organization_id), schedule_id)
        assert conn.execute("SELECT count(*) FROM schedules WHERE deleted_at IS NULL").fetchone() == (1,)
    assert state is not None and state.status == SendStatus.SCHEDULED and state.published_at is None


def test_hidden_sends_do_not_count_against_the_schedule_quota(api: Api, pool: ConnectionPool) -> None:
    _create(pool, api.tenant.organization_id)
    api.create_schedule()
    with transaction(pool) as conn:
        assert count_live_schedules(conn, UUID(api.tenant.organization_id)) == 1


def test_state_follows_the_run_and_fired_sends_refuse_edit_and_cancel(api: Api, pool: ConnectionPool) -> None:
    org = UUID(api.tenant.organization_id)
    schedule_id = _create(pool, api.tenant.organization_id)
    content, target = parse_content({"text": "Changed"}), parse_target({"to": ["b@example.com"]})
    with transaction(pool) as conn:
        state = send_service.lock_send(conn, org, schedule_id, "campaign", NotFound("x"))
        edited = send_service.replace_send(conn, state, name="Sale", content=content, target=target,
                                           execute_at=_slot(60), label="Campaign")
    assert edited.content == {"text": "Changed", "attachments": []} and edited.execute_at == _slot(60)
    fire_due_now(pool, str(schedule_id))
    with transaction(pool) as conn:
        state = send_service.lock_send(conn, org, schedule_id, "campaign", NotFound("x"))
        assert state.status == SendStatus.SENDING and state.run_id is not None
        with pytest.raises(StateConflict, match=r"^Campaign is sending; cannot edit$") as refused:
            send_service.replace_send(conn, state, name="Sale", content=content, target=target,
                                      execute_at=_slot(90), label="Campaign")
        assert refused.value.state == "sending"
        with pytest.raises(StateConflict, match=r"^Campaign is sending; cannot cancel$"):
            send_service.cancel_send(conn, state, label="Campaign")
        conn.execute("UPDATE runs SET status = 'complete', published_at = now(), finished_at = now() "
                     "WHERE schedule_id = %s", (schedule_id,))
        sent = send_sql.get_send_state(conn, org, schedule_id)
        assert sent is not None and sent.status == SendStatus.SENT and sent.sent_at is not None
        # Another owner's name does not reach it.
        assert send_sql.lock_send(conn, org, schedule_id, "message") is None


def test_cancel_before_the_slot_means_it_never_fires(api: Api, pool: ConnectionPool) -> None:
    org = UUID(api.tenant.organization_id)
    schedule_id = _create(pool, api.tenant.organization_id)
    with transaction(pool) as conn:
        state = send_service.lock_send(conn, org, schedule_id, "campaign", NotFound("x"))
        cancelled = send_service.cancel_send(conn, state, label="Campaign")
        assert cancelled.status == SendStatus.CANCELLED and cancelled.cancelled_at is not None
        conn.execute("UPDATE schedules SET execute_at = now() WHERE id = %s", (schedule_id,))
        assert claim_due_schedules(conn, 10) == []
        with pytest.raises(StateConflict, match="is cancelled; cannot cancel"):
            send_service.cancel_send(conn, replace(cancelled), label="Campaign")


def test_targets_are_checked_against_the_organization(api: Api, other_api: Api, pool: ConnectionPool) -> None:
    theirs = other_api.post("/v1/lists", {"name": "Theirs"}).get_json()["id"]
    org = UUID(api.tenant.organization_id)
    content = parse_content({"text": "Hi"})
    for target, message in (({"list_id": theirs}, "list_id: "), ({"user_id": theirs}, "user_id: ")):
        with transaction(pool) as conn, pytest.raises(NotFound, match=message):
            send_service.create_send(conn, org, owner="message", name="x", content=content,
                                     target=parse_target(target), execute_at=_slot(), created_by=None)
    with transaction(pool) as conn:
        with pytest.raises(InvalidInput, match=r"^to: \+14155550100 is a phone number .* no message gateway"):
            send_service.create_send(conn, org, owner="message", name="x", content=content,
                                     target=parse_target({"to": ["+14155550100"]}), execute_at=_slot(),
                                     created_by=None)
        assert conn.execute("SELECT count(*) FROM schedules").fetchone() == (0,)
