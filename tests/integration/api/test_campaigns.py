"""Campaigns over HTTP on a real database: CRUD, each transition and each refused one, paging, tenancy."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from psycopg_pool import ConnectionPool

from shared.db import transaction
from tests.integration.api.conftest import Api, error, insert_member

MISSING = "00000000-0000-0000-0000-0000000000cc"
CONTENT = {"subject": "Spring sale", "text": "Everything is 20% off."}
STORED = {**CONTENT, "attachments": []}
FIELDS = {"id", "organization_id", "name", "description", "segment_id", "content", "status", "scheduled_at",
          "published_at", "sent_at", "cancelled_at", "created_by", "created_at", "updated_at", "deliveries"}


def insert_list(pool: ConnectionPool, organization_id: str, name: str = "Customers") -> str:
    """A contact list, straight into the database (for the processes' tests, whose API is another process)."""
    with transaction(pool) as conn:
        row = conn.execute("INSERT INTO contact_lists (organization_id, name) VALUES (%s, %s) RETURNING id",
                           (organization_id, name)).fetchone()
    assert row is not None
    return str(row[0])


def create_list(api: Api, name: str = "Customers", emails: list[str] | None = None) -> str:
    response = api.post("/v1/lists", {"name": name})
    assert response.status_code == 201, response.get_json()
    lid = str(response.get_json()["id"])
    if emails:
        assert api.put(f"/v1/lists/{lid}/add-members", {"emails": emails}).status_code == 200
    return lid


def next_slot(minutes_ahead: int = 30) -> str:
    """A 15-minute boundary at least `minutes_ahead` minutes from now, as RFC 3339."""
    at = datetime.now(UTC) + timedelta(minutes=minutes_ahead)
    at = at.replace(minute=at.minute - at.minute % 15, second=0, microsecond=0) + timedelta(minutes=15)
    return at.isoformat()


@pytest.fixture()
def segment(api: Api) -> str:
    return create_list(api, emails=["ada@example.com", "grace@example.com"])


def create(api: Api, segment: str, **fields: Any) -> dict[str, Any]:
    response = api.post("/v1/campaigns", {"name": "Spring", "segment_id": segment, "content": CONTENT, **fields})
    assert response.status_code == 201, response.get_json()
    return response.get_json()  # type: ignore[no-any-return]


def count_rows(pool: ConnectionPool) -> int:
    with transaction(pool) as conn:
        return int(conn.execute("SELECT count(*) FROM campaigns").fetchone()[0])  # type: ignore[index]


def test_create_read_and_list_a_draft(api: Api, segment: str) -> None:
    campaign = create(api, segment, description="Twenty percent off")
    assert set(campaign) == FIELDS
    assert campaign["status"] == "draft" and campaign["segment_id"] == segment
    assert campaign["description"] == "Twenty percent off" and campaign["content"] == STORED
    assert campaign["deliveries"] == {"total": 0, "delivered": 0, "failed": 0}
    assert campaign["scheduled_at"] is campaign["published_at"] is campaign["sent_at"] is None
    assert campaign["cancelled_at"] is None and campaign["created_by"] is None  # an organization-wide token
    assert api.get(f"/v1/campaigns/{campaign['id']}").get_json() == campaign
    assert create(api, segment, name="Plain")["description"] == ""


def test_created_by_is_the_member_whose_token_created_it(api: Api, pool: ConnectionPool, segment: str) -> None:
    from shared.sql.organizations import create_token

    member = insert_member(pool, api.tenant.organization_id, "owner@acme.example")
    with transaction(pool) as conn:
        _, token = create_token(conn, api.tenant.organization_id, "member", user_id=member)  # type: ignore[arg-type]
    response = api.post("/v1/campaigns", {"name": "Mine", "segment_id": segment, "content": CONTENT},
                        headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 201 and response.get_json()["created_by"] == member


def test_campaigns_are_paged_oldest_first(api: Api, segment: str) -> None:
    ids = [create(api, segment, name=f"c{i}")["id"] for i in range(5)]
    first = api.get("/v1/campaigns?page_size=2").get_json()
    assert [c["id"] for c in first["records"]] == ids[:2]
    assert first["page_info"]["has_next_page"] and first["page_info"]["total_records"] == 5
    seen = [c["id"] for c in first["records"]]
    cursor = first["page_info"]["next_cursor"]
    while cursor:
        page = api.get(f"/v1/campaigns?page_size=2&cursor={cursor}").get_json()
        seen += [c["id"] for c in page["records"]]
        cursor = page["page_info"]["next_cursor"]
    assert seen == ids
    assert error(api.get("/v1/campaigns?page_size=101"), 400) == "Page size cannot exceed 100"
    assert error(api.get("/v1/campaigns?cursor=abc"), 400) == "cursor: Invalid cursor"


def test_bad_input_names_the_field_and_writes_nothing(api: Api, other_api: Api, pool: ConnectionPool,
                                                      segment: str) -> None:
    theirs = create_list(other_api, "Theirs")
    deleted = create_list(api, "Gone")
    assert api.delete(f"/v1/lists/{deleted}").status_code == 204
    body = {"name": "Spring", "segment_id": segment, "content": CONTENT}
    cases: list[tuple[dict[str, Any], int, str]] = [
        ({**body, "name": ""}, 400, "name: Length must be between 1 and 255."),
        ({k: v for k, v in body.items() if k != "name"}, 400, "name: Missing data for required field."),
        ({**body, "segment_id": "nope"}, 400, "segment_id: Invalid uuid"),
        ({k: v for k, v in body.items() if k != "segment_id"}, 400, "segment_id: Missing data for required field."),
        ({k: v for k, v in body.items() if k != "content"}, 400, "content: Missing data for required field."),
        ({**body, "content": {"subject": "s"}}, 400, "content.text: Give exactly one of text or template"),
        ({**body, "content": {"text": "a", "template": "b"}}, 400, "content.text: Give exactly one of text or"),
        ({**body, "content": {"text": "a", "variables": {}}}, 400, "content.variables: Only with a template"),
        ({**body, "content": {"template": "{% if %}"}}, 400, "content.template: Template syntax error"),
        ({**body, "content": {"text": "a", "attachments": ["ftp://x"]}}, 400, "content.attachments: Each must"),
        ({**body, "content": "hello"}, 400, "content: Not a valid mapping type."),
        ({**body, "content": {"text": "a", "colour": "red"}}, 400, "content.colour: Unknown field."),
        ({**body, "status": "sent"}, 400, "status: Unknown field."),
        ({**body, "segment_id": MISSING}, 404, f"Contact list with id {MISSING} does not exist"),
        ({**body, "segment_id": theirs}, 404, f"Contact list with id {theirs} does not exist"),
        ({**body, "segment_id": deleted}, 404, f"Contact list with id {deleted} does not exist"),
    ]
    for case, status, expected in cases:
        assert error(api.post("/v1/campaigns", case), status).startswith(expected), case
    assert count_rows(pool) == 0


def test_a_draft_is_edited_and_deleted(api: Api, segment: str) -> None:
    campaign = create(api, segment)
    cid = campaign["id"]
    other_segment = create_list(api, "VIPs")
    template = {"template": "Hi {{ name }}", "variables": {"name": "there"}, "attachments": []}
    edited = api.patch(f"/v1/campaigns/{cid}", {"name": "Summer", "segment_id": other_segment,
                                                "content": template}).get_json()
    assert (edited["name"], edited["segment_id"], edited["content"]) == ("Summer", other_segment, template)
    assert edited["status"] == "draft" and edited["updated_at"] > campaign["updated_at"]
    assert api.patch(f"/v1/campaigns/{cid}", {}).get_json() == edited
    assert error(api.patch(f"/v1/campaigns/{cid}", {"segment_id": MISSING}), 404).startswith("Contact list with id")
    assert error(api.patch(f"/v1/campaigns/{cid}", {"content": {}}), 400).startswith("content.text:")
    assert api.get(f"/v1/campaigns/{cid}").get_json() == edited
    assert api.delete(f"/v1/campaigns/{cid}").status_code == 204
    assert error(api.get(f"/v1/campaigns/{cid}"), 404) == f"Campaign with id {cid} does not exist"
    assert error(api.delete(f"/v1/campaigns/{cid}"), 404) == f"Campaign with id {cid} does not exist"
    assert error(api.get("/v1/campaigns/zzz"), 400) == "campaign_id: Invalid uuid"


def test_schedule_moves_a_draft_to_scheduled_and_refuses_a_bad_slot(api: Api, segment: str) -> None:
    cid = create(api, segment)["id"]
    off_grid = (datetime.now(UTC) + timedelta(hours=2)).replace(minute=7, second=0, microsecond=0).isoformat()
    soon = datetime.now(UTC).replace(second=0, microsecond=0)
    soon = soon.replace(minute=soon.minute - soon.minute % 15) + timedelta(minutes=15)
    for body, expected in (
        ({}, "scheduled_at: Missing data for required field."),
        ({"scheduled_at": "tomorrow"}, "scheduled_at: "),
        ({"scheduled_at": "2030-01-01T09:00:00"}, "scheduled_at: "),
        ({"scheduled_at": off_grid}, "scheduled_at: must be on a 15-minute boundary"),
        ({"scheduled_at": soon.isoformat()}, "scheduled_at: must be at least 15 minutes in the future"),
    ):
        assert error(api.post(f"/v1/campaigns/{cid}/schedule", body), 400).startswith(expected), body
    assert api.get(f"/v1/campaigns/{cid}").get_json()["status"] == "draft"
    slot = next_slot()
    scheduled = api.post(f"/v1/campaigns/{cid}/schedule", {"scheduled_at": slot}).get_json()
    assert scheduled["status"] == "scheduled"
    assert datetime.fromisoformat(scheduled["scheduled_at"]) == datetime.fromisoformat(slot)
    assert api.get(f"/v1/campaigns/{cid}").get_json() == scheduled


def test_refused_transitions_answer_412_naming_both_states(api: Api, segment: str) -> None:
    scheduled = create(api, segment)["id"]
    api.post(f"/v1/campaigns/{scheduled}/schedule", {"scheduled_at": next_slot()})
    cancelled = create(api, segment)["id"]
    assert api.post(f"/v1/campaigns/{cancelled}/cancel").get_json()["status"] == "cancelled"
    refused = [
        (api.post(f"/v1/campaigns/{scheduled}/schedule", {"scheduled_at": next_slot()}),
         "Campaign is scheduled; cannot schedule"),
        (api.patch(f"/v1/campaigns/{scheduled}", {"name": "x"}), "Campaign is scheduled; cannot edit"),
        (api.delete(f"/v1/campaigns/{scheduled}"), "Campaign is scheduled; cannot delete"),
        (api.post(f"/v1/campaigns/{cancelled}/schedule", {"scheduled_at": next_slot()}),
         "Campaign is cancelled; cannot schedule"),
        (api.post(f"/v1/campaigns/{cancelled}/cancel"), "Campaign is cancelled; cannot cancel"),
        (api.patch(f"/v1/campaigns/{cancelled}", {"name": "x"}), "Campaign is cancelled; cannot edit"),
        (api.delete(f"/v1/campaigns/{cancelled}"), "Campaign is cancelled; cannot delete"),
    ]
    for response, expected in refused:
        assert error(response, 412) == expected
    # The state is judged before the body: a refused schedule of a cancelled campaign says so even for a bad slot.
    assert error(api.post(f"/v1/campaigns/{cancelled}/schedule", {"scheduled_at": "bad"}), 412) == \
        "Campaign is cancelled; cannot schedule"
    assert api.get(f"/v1/campaigns/{scheduled}").get_json()["status"] == "scheduled"


def test_cancel_from_draft_and_from_scheduled(api: Api, segment: str) -> None:
    draft = create(api, segment)["id"]
    cancelled = api.post(f"/v1/campaigns/{draft}/cancel").get_json()
    assert cancelled["status"] == "cancelled" and cancelled["cancelled_at"] and cancelled["scheduled_at"] is None
    scheduled = create(api, segment)["id"]
    slot = next_slot()
    api.post(f"/v1/campaigns/{scheduled}/schedule", {"scheduled_at": slot})
    cancelled = api.post(f"/v1/campaigns/{scheduled}/cancel").get_json()
    assert cancelled["status"] == "cancelled" and cancelled["cancelled_at"]
    assert datetime.fromisoformat(cancelled["scheduled_at"]) == datetime.fromisoformat(slot)


def test_another_organizations_campaign_is_not_found(api: Api, other_api: Api, segment: str) -> None:
    cid = create(api, segment)["id"]
    for response in (other_api.get(f"/v1/campaigns/{cid}"), other_api.patch(f"/v1/campaigns/{cid}", {"name": "x"}),
                     other_api.delete(f"/v1/campaigns/{cid}"), other_api.post(f"/v1/campaigns/{cid}/cancel"),
                     other_api.post(f"/v1/campaigns/{cid}/schedule", {"scheduled_at": next_slot()})):
        assert error(response, 404) == f"Campaign with id {cid} does not exist"
    assert other_api.get("/v1/campaigns").get_json()["records"] == []
    assert api.get(f"/v1/campaigns/{cid}").get_json()["status"] == "draft"


def test_openapi_documents_every_campaign_route_with_its_errors(api: Api) -> None:
    paths = api.get("/v1/openapi.json").get_json()["paths"]
    expected = {
        ("/v1/campaigns", "get"): {"400"},
        ("/v1/campaigns", "post"): {"400", "404"},
        ("/v1/campaigns/{campaign_id}", "get"): {"400", "404"},
        ("/v1/campaigns/{campaign_id}", "patch"): {"400", "404", "412"},
        ("/v1/campaigns/{campaign_id}", "delete"): {"400", "404", "412"},
        ("/v1/campaigns/{campaign_id}/schedule", "post"): {"400", "404", "412"},
        ("/v1/campaigns/{campaign_id}/cancel", "post"): {"400", "404", "412"},
    }
    for (path, method), codes in expected.items():
        responses = paths[path][method]["responses"]
        assert codes | {"401", "429"} <= set(responses), (path, method)
        assert responses.get("412", {}).get("content", {"application/json": 1})["application/json"]
    assert "cannot schedule" in paths["/v1/campaigns/{campaign_id}/schedule"]["post"]["responses"]["412"][
        "description"]


def _send_row(pool: ConnectionPool, campaign_id: str) -> tuple[Any, ...]:
    with transaction(pool) as conn:
        row = conn.execute(
            """SELECT s.id, s.owner, s.send_target, s.execute_at, s.next_run_at, s.cancelled_at, s.send_content
               FROM campaigns c JOIN schedules s ON s.id = c.schedule_id WHERE c.id = %s""", (campaign_id,)).fetchone()
    assert row is not None
    return tuple(row)


def _fire(pool: ConnectionPool, campaign_id: str, status: str, **counts: int) -> None:
    """What beat and the workers write when the send fires (status running) and ends (complete, failed)."""
    schedule_id, *_ = _send_row(pool, campaign_id)
    with transaction(pool) as conn:
        conn.execute(
            """INSERT INTO runs (organization_id, schedule_id, scheduled_for, trigger, status, published_at)
               SELECT organization_id, id, execute_at, 'one_shot', 'running', now() FROM schedules WHERE id = %s
               ON CONFLICT (schedule_id, scheduled_for) DO NOTHING""", (schedule_id,))
        conn.execute(
            """UPDATE runs SET status = %s, finished_at = CASE WHEN %s <> 'running' THEN now() END,
                              deliveries_total = %s, deliveries_delivered = %s, deliveries_failed = %s
               WHERE schedule_id = %s""",
            (status, status, counts.get("total", 0), counts.get("delivered", 0), counts.get("failed", 0),
             schedule_id))


def test_scheduling_arms_a_hidden_send_to_the_segment_and_cancel_disarms_it(api: Api, pool: ConnectionPool,
                                                                             segment: str) -> None:
    cid = create(api, segment)["id"]
    slot = next_slot()
    api.post(f"/v1/campaigns/{cid}/schedule", {"scheduled_at": slot})
    _, owner, target, execute_at, next_run_at, cancelled_at, content = _send_row(pool, cid)
    assert (owner, target, content) == ("campaign", {"list_id": segment}, STORED)
    assert execute_at == next_run_at == datetime.fromisoformat(slot) and cancelled_at is None
    assert api.get("/v1/schedules").get_json()["records"] == []  # a campaign's send is not a user's schedule
    api.post(f"/v1/campaigns/{cid}/cancel")
    *_, next_run_at, cancelled_at, _ = _send_row(pool, cid)
    assert next_run_at is None and cancelled_at is not None


def test_a_fired_campaign_is_sending_then_sent_and_refuses_every_transition(api: Api, pool: ConnectionPool,
                                                                            segment: str) -> None:
    cid = create(api, segment)["id"]
    api.post(f"/v1/campaigns/{cid}/schedule", {"scheduled_at": next_slot()})
    _fire(pool, cid, "running", total=2)
    sending = api.get(f"/v1/campaigns/{cid}").get_json()
    assert sending["status"] == "sending" and sending["published_at"] and sending["sent_at"] is None
    for response, action in ((api.post(f"/v1/campaigns/{cid}/cancel"), "cancel"),
                             (api.post(f"/v1/campaigns/{cid}/schedule", {"scheduled_at": next_slot()}), "schedule"),
                             (api.patch(f"/v1/campaigns/{cid}", {"name": "x"}), "edit"),
                             (api.delete(f"/v1/campaigns/{cid}"), "delete")):
        assert error(response, 412) == f"Campaign is sending; cannot {action}"
    _fire(pool, cid, "error_delivered", total=2, delivered=1, failed=1)
    sent = api.get(f"/v1/campaigns/{cid}").get_json()
    assert sent["status"] == "sent" and sent["sent_at"] >= sent["published_at"]
    assert sent["deliveries"] == {"total": 2, "delivered": 1, "failed": 1}
    assert api.get("/v1/campaigns").get_json()["records"] == [sent]
    for response, action in ((api.post(f"/v1/campaigns/{cid}/cancel"), "cancel"),
                             (api.post(f"/v1/campaigns/{cid}/schedule", {"scheduled_at": next_slot()}), "schedule"),
                             (api.patch(f"/v1/campaigns/{cid}", {"name": "x"}), "edit"),
                             (api.delete(f"/v1/campaigns/{cid}"), "delete")):
        assert error(response, 412) == f"Campaign is sent; cannot {action}"
    # A send that delivered nothing (an empty segment: the run is skipped) has ended as well.
    empty = create(api, create_list(api, "Empty"))["id"]
    api.post(f"/v1/campaigns/{empty}/schedule", {"scheduled_at": next_slot()})
    _fire(pool, empty, "skipped")
    assert api.get(f"/v1/campaigns/{empty}").get_json()["status"] == "sent"
