"""Users and user attributes over HTTP on a real database."""

from __future__ import annotations

from psycopg_pool import ConnectionPool

from tests.integration.api.conftest import Api, error, insert_member


def _declare(api: Api, name: str, type_: str, multi: bool = False) -> dict:
    response = api.post("/v1/user-attributes", {"name": name, "type": type_, "multi_value": multi})
    assert response.status_code == 201, response.get_json()
    return response.get_json()  # type: ignore[no-any-return]


def test_attribute_definitions(api: Api) -> None:
    region = _declare(api, "region", "number")
    _declare(api, "tags", "string", multi=True)
    assert region["type"] == "number" and region["multi_value"] is False
    listed = api.get("/v1/user-attributes").get_json()["records"]
    assert [(a["name"], a["type"], a["multi_value"]) for a in listed] == [("region", "number", False),
                                                                          ("tags", "string", True)]
    assert error(api.post("/v1/user-attributes", {"name": "region", "type": "string"}), 409) == \
        "User attribute region already exists"
    assert error(api.post("/v1/user-attributes", {"name": "9x", "type": "string"}), 400).startswith("name:")
    assert error(api.post("/v1/user-attributes", {"name": "x", "type": "date"}), 400).startswith("type: Must be")


def test_email_only_upsert_validates_and_unsets_attributes(api: Api) -> None:
    _declare(api, "region", "number")
    _declare(api, "tags", "string", multi=True)
    _declare(api, "vip", "boolean")
    created = api.post("/v1/users/email-only", {"email": "Ann@Example.com", "timezone": "Europe/Paris",
                                                "user_attributes": {"region": 3, "tags": ["a", "b"], "vip": True}})
    body = created.get_json()
    assert created.status_code == 200 and body["kind"] == "email_only" and body["timezone"] == "Europe/Paris"
    assert body["user_attributes"] == {"region": 3, "tags": ["a", "b"], "vip": True}
    updated = api.post("/v1/users/email-only", {"email": "ann@example.com", "name": "Ann",
                                                "user_attributes": {"region": None, "tags": [], "vip": ""}}).get_json()
    assert updated["id"] == body["id"] and updated["name"] == "Ann" and updated["user_attributes"] == {}
    assert updated["timezone"] == "Europe/Paris"

    def bad(attributes: dict) -> str:
        return error(api.post("/v1/users/email-only", {"email": "ann@example.com", "user_attributes": attributes}),
                     400)

    assert bad({"region": "x"}) == 'User attribute region is type number, but passed-in value "x" is not a number'
    assert bad({"vip": "yes"}) == 'User attribute vip is type boolean, but passed-in value "yes" is not a boolean'
    assert bad({"tags": "a"}) == 'User attribute tags is multi-value, but passed-in value "a" is not an array'
    assert bad({"tags": ["a", 1]}) == "User attribute tags is type string, but passed-in value 1 is not a string"
    assert bad({"region": [1]}) == "User attribute region is single-value, but passed-in value [1] is an array"
    assert bad({"colour": "red"}).startswith("User attribute colour is not defined")
    assert error(api.post("/v1/users/email-only", {"email": "nope"}), 400) == "email: Invalid email address"
    assert error(api.post("/v1/users/email-only", {"email": "a@example.com", "timezone": "Moon/Base"}),
                 400) == "timezone: Time zone must be IANA valid."
    assert error(api.post("/v1/users/email-only", {}), 400) == "email: Missing data for required field."


def test_bulk_upsert(api: Api) -> None:
    _declare(api, "region", "string")
    users = [{"email": f"u{i}@example.com", "user_attributes": {"region": "emea"}} for i in range(20)]
    body = api.post("/v1/users/email-only/bulk", {"users": users}).get_json()
    assert len(body["users"]) == 20 and body["users"][0]["user_attributes"] == {"region": "emea"}
    too_many = api.post("/v1/users/email-only/bulk", {"users": [*users, {"email": "x@example.com"}]})
    assert error(too_many, 400) == "users: Maximum of 20 users can be processed in a single request"
    assert error(api.post("/v1/users/email-only/bulk", {"users": []}), 400) == "users: At least one user is required"
    partly_bad = api.post("/v1/users/email-only/bulk", {"users": [{"email": "ok@example.com"},
                                                                  {"email": "b@example.com",
                                                                   "user_attributes": {"region": 5}}]})
    assert error(partly_bad, 400) == ('users.1: User attribute region is type string, but passed-in value 5 is '
                                      'not a string')
    assert api.get("/v1/users?page_size=100").get_json()["page_info"]["total_records"] == 20  # nothing half-done


def test_list_users_paged_and_by_kind(api: Api, pool: ConnectionPool) -> None:
    member = insert_member(pool, api.tenant.organization_id, "m@example.com")
    for i in range(3):
        api.post("/v1/users/email-only", {"email": f"e{i}@example.com"})
    first = api.get("/v1/users?page_size=2").get_json()
    assert first["page_info"]["total_records"] == 4 and first["records"][0]["id"] == member
    rest = api.get(f"/v1/users?page_size=2&cursor={first['page_info']['next_cursor']}").get_json()
    assert len(rest["records"]) == 2 and not rest["page_info"]["has_next_page"]
    members = api.get("/v1/users?kind=member").get_json()["records"]
    assert [u["id"] for u in members] == [member]
    assert error(api.get("/v1/users?kind=robot"), 400).startswith("kind:")
