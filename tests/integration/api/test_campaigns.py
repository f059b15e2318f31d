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
FIELDS = {"id", "organization_id", "name", "description", "segment_id", "content", "status", "scheduled_at",
          "published_at", "sent_at", "cancelled_at", "created_by", "created_at", "updated_at"}


def insert_list(pool: ConnectionPool, organization_id: str, name: str = "Customers") -> str:
    with transaction(pool) as conn:
        row = conn.execute("INSERT INTO contact_lists (organization_id, name) VALUES (%s, %s) RETURNING id",
                           (organization_id, name)).fetchone()
    assert row is not None
    return str(row[0])


def next_slot(minutes_ahead: int = 30) -> str:
    """A 15-minute boundary at least `minutes_ahead` minutes from now, as RFC 3339."""
    at = datetime.now(UTC) + timedelta(minutes=minutes_ahead)
    at = at.replace(minute=at.minute - at.minute % 15, second=0, microsecond=0) + timedelta(minutes=15)
    return at.isoformat()


@pytest.fixture()
def segment(api: Api, pool: ConnectionPool) -> str:
    return insert_list(pool, api.tenant.organization_id)


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
    assert campaign["description"] == "Twenty percent off" and campaign["content"] == CONTENT
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
    theirs = insert_list(pool, other_api.tenant.organization_id, "Theirs")
    body = {"name": "Spring", "segment_id": segment, "content": CONTENT}
    cases: list[tuple[dict[str, Any], int, str]] = [
        ({**body, "name": ""}, 400, "name: Length must be between 1 and 255."),
        ({k: v for k, v in body.items() if k != "name"}, 400, "name: Missing data for required field."),
        ({**body, "segment_id": "nope"}, 400, "segment_id: Invalid uuid"),
        ({k: v for k, v in body.items() if k != "segment_id"}, 400, "segment_id: Missing data for required field."),
        ({k: v for k, v in body.items() if k != "content"}, 400, "content: Missing data for required field."),
        ({**body, "content": {"subject": "s"}}, 400, "content.text: Give exactly one of text or template"),
        ({**body, "content": {"text": "a", "template": "b"}}, 400, "content.text: Give exactly one of text or"),
        ({**body, "content": {"text": "a", "variables": {}}}, 400, "content.variables: Only a template takes"),
        ({**body, "content": {"text": "a", "colour": "red"}}, 400, "content.colour: Unknown field."),
        ({**body, "status": "sent"}, 400, "status: Unknown field."),
        ({**body, "segment_id": MISSING}, 404, f"Contact list with id {MISSING} does not exist"),
        ({**body, "segment_id": theirs}, 404, f"Contact list with id {theirs} does not exist"),
    ]
    for case, status, expected in cases:
        assert error(api.post("/v1/campaigns", case), status).startswith(expected), case
    assert count_rows(pool) == 0


def test_a_draft_is_edited_and_deleted(api: Api, pool: ConnectionPool, segment: str) -> None:
    campaign = create(api, segment)
    cid = campaign["id"]
    other_segment = insert_list(pool, api.tenant.organization_id, "VIPs")
    template = {"template": "Hi {{ name }}", "variables": {"name": "there"}}
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
