"""Contact lists over HTTP: create, read, list, change, delete, members by id and by address, tenancy."""

from __future__ import annotations

from psycopg_pool import ConnectionPool

from shared.db import transaction
from tests.integration.api.conftest import Api, error, insert_member


def _members(pool: ConnectionPool, list_id: str) -> set[str]:
    with transaction(pool) as conn:
        rows = conn.execute("SELECT u.email FROM contact_list_members m JOIN users u ON u.id = m.user_id "
                            "WHERE m.contact_list_id = %s", (list_id,)).fetchall()
    return {r[0] for r in rows}


def test_list_lifecycle_and_members(api: Api, pool: ConnectionPool) -> None:
    created = api.post("/v1/lists", {"name": "Customers", "description": "All of them"})
    body = created.get_json()
    assert created.status_code == 201, body
    assert body["name"] == "Customers" and body["member_count"] == 0 and body["description"] == "All of them"
    member = insert_member(pool, api.tenant.organization_id, "ann@example.com")
    added = api.put(f"/v1/lists/{body['id']}/add-members",
                    {"user_ids": [member], "emails": ["bob@example.com", "ANN@example.com"]})
    assert added.get_json() == {"added_members_count": 2, "success": True}
    assert _members(pool, body["id"]) == {"ann@example.com", "bob@example.com"}
    again = api.put(f"/v1/lists/{body['id']}/add-members", {"emails": ["bob@example.com"]})
    assert again.get_json()["added_members_count"] == 0
    assert api.get(f"/v1/lists/{body['id']}").get_json()["member_count"] == 2
    removed = api.put(f"/v1/lists/{body['id']}/remove-members", {"emails": ["bob@example.com"]})
    assert removed.get_json() == {"removed_members_count": 1, "success": True}
    assert _members(pool, body["id"]) == {"ann@example.com"}
    patched = api.patch(f"/v1/lists/{body['id']}", {"name": "VIPs", "description": None}).get_json()
    assert patched["name"] == "VIPs" and patched["description"] is None and patched["member_count"] == 1
    assert error(api.patch(f"/v1/lists/{body['id']}", {"name": None}), 400).startswith("name:")
    assert api.delete(f"/v1/lists/{body['id']}").status_code == 204
    assert "does not exist" in error(api.get(f"/v1/lists/{body['id']}"), 404)
    assert error(api.delete(f"/v1/lists/{body['id']}"), 404)


def test_lists_are_paged(api: Api) -> None:
    ids = [api.post("/v1/lists", {"name": f"L{i}"}).get_json()["id"] for i in range(3)]
    first = api.get("/v1/lists?page_size=2").get_json()
    assert [r["id"] for r in first["records"]] == ids[:2] and first["page_info"]["total_records"] == 3
    second = api.get(f"/v1/lists?page_size=2&cursor={first['page_info']['next_cursor']}").get_json()
    assert [r["id"] for r in second["records"]] == ids[2:] and second["page_info"]["has_next_page"] is False


def test_bad_member_input_names_the_field_and_changes_nothing(api: Api, pool: ConnectionPool) -> None:
    list_id = api.post("/v1/lists", {"name": "L"}).get_json()["id"]
    assert error(api.put(f"/v1/lists/{list_id}/add-members", {}), 400)
    assert error(api.put(f"/v1/lists/{list_id}/add-members", {"emails": ["not-an-address"]}), 400).startswith(
        "emails:")
    assert error(api.put(f"/v1/lists/{list_id}/add-members", {"user_ids": ["nope"]}), 400).startswith("user_ids:")
    with transaction(pool) as conn:
        assert conn.execute("SELECT count(*) FROM users").fetchone() == (0,)
    assert error(api.post("/v1/lists", {"name": ""}), 400).startswith("name:")
    assert error(api.get("/v1/lists/not-a-uuid"), 400) == "list_id: Invalid uuid"


def test_another_tenants_list_and_users_are_out_of_reach(api: Api, other_api: Api, pool: ConnectionPool) -> None:
    theirs = other_api.post("/v1/lists", {"name": "Theirs"}).get_json()["id"]
    assert error(api.get(f"/v1/lists/{theirs}"), 404)
    assert error(api.patch(f"/v1/lists/{theirs}", {"name": "x"}), 404)
    assert error(api.put(f"/v1/lists/{theirs}/add-members", {"emails": ["a@example.com"]}), 404)
    assert error(api.delete(f"/v1/lists/{theirs}"), 404)
    assert api.get("/v1/lists").get_json()["records"] == []
    mine = api.post("/v1/lists", {"name": "Mine"}).get_json()["id"]
    their_user = insert_member(pool, other_api.tenant.organization_id, "eve@example.com")
    assert "do not exist" in error(api.put(f"/v1/lists/{mine}/add-members", {"user_ids": [their_user]}), 400)
    assert _members(pool, mine) == set()
