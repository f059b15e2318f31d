"""Member users over HTTP: create, read, change, delete."""

from __future__ import annotations

from psycopg_pool import ConnectionPool

from shared.db import transaction
from shared.sql.organizations import create_token
from tests.integration.api.conftest import EMAIL, Api, error


def test_member_users_crud(api: Api, other_api: Api) -> None:
    api.post("/v1/user-attributes", {"name": "region", "type": "string"})
    created = api.post("/v1/users", {"email": "Pat@Example.com", "name": "Pat", "timezone": "Europe/Paris",
                                     "user_attributes": {"region": "emea"}})
    pat = created.get_json()
    assert created.status_code == 201 and pat["kind"] == "member" and pat["email"] == "Pat@Example.com"
    assert pat["timezone"] == "Europe/Paris" and pat["user_attributes"] == {"region": "emea"}
    assert api.get(f"/v1/users/{pat['id']}").get_json() == pat
    assert [u["id"] for u in api.get("/v1/users?kind=member").get_json()["records"]] == [pat["id"]]

    assert error(api.post("/v1/users", {"email": "pat@example.com"}), 409) == \
        "A user with email pat@example.com already exists"
    api.post("/v1/users/email-only", {"email": "eo@example.com"})
    assert error(api.post("/v1/users", {"email": "EO@example.com"}), 409).startswith("A user with email")
    assert other_api.post("/v1/users", {"email": "pat@example.com"}).status_code == 201  # unique per organization
    assert error(api.post("/v1/users", {"email": "nope"}), 400) == "email: Invalid email address"
    assert error(api.post("/v1/users", {"email": "a@example.com", "timezone": "Moon/Base"}), 400) == \
        "timezone: Time zone must be IANA valid."
    assert error(api.post("/v1/users", {"email": "a@example.com", "user_attributes": {"region": 1}}), 400) == \
        "User attribute region is type string, but passed-in value 1 is not a string"
    assert error(api.post("/v1/users", {}), 400) == "email: Missing data for required field."

    changed = api.patch(f"/v1/users/{pat['id']}", {"name": "Patricia", "email": "patricia@example.com",
                                                   "user_attributes": {"region": None}}).get_json()
    assert changed["name"] == "Patricia" and changed["email"] == "patricia@example.com"
    assert changed["user_attributes"] == {} and changed["timezone"] == "Europe/Paris"
    assert error(api.patch(f"/v1/users/{pat['id']}", {"email": "eo@example.com"}), 409).startswith("A user with")
    assert error(api.patch(f"/v1/users/{pat['id']}", {"timezone": "Nowhere"}), 400).startswith("timezone:")
    assert error(api.patch(f"/v1/users/{pat['id']}", {"email": None}), 400) == "email: Field may not be null."
    assert api.get(f"/v1/users/{pat['id']}").get_json()["email"] == "patricia@example.com"

    assert api.delete(f"/v1/users/{pat['id']}").status_code == 204
    assert error(api.get(f"/v1/users/{pat['id']}"), 404) == f"User with id {pat['id']} does not exist"
    assert error(api.delete(f"/v1/users/{pat['id']}"), 404).endswith("does not exist")
    assert error(api.get("/v1/users/nope"), 400) == "user_id: Invalid uuid"


def test_deleting_a_user_removes_subscriptions_keeps_schedules_and_waits_for_tokens(api: Api,
                                                                                    pool: ConnectionPool) -> None:
    member = api.post("/v1/users", {"email": "m@example.com"}).get_json()["id"]
    schedule = api.create_schedule(destination=EMAIL, subscriber_user_ids=[member], created_by_user_id=member)
    with transaction(pool) as conn:
        token, _ = create_token(conn, api.tenant.organization_id, "m", user_id=member)  # type: ignore[arg-type]
    assert error(api.delete(f"/v1/users/{member}"), 409) == \
        "User has 1 active API token(s); revoke them first (DELETE /v1/tokens/{id})"
    assert api.delete(f"/v1/tokens/{token.id}").status_code == 204
    assert api.delete(f"/v1/users/{member}").status_code == 204
    kept = api.get(f"/v1/schedules/{schedule['id']}").get_json()
    assert kept["recipient_count"] == 0 and kept["created_by_user_id"] is None
    revoked = next(t for t in api.get("/v1/tokens").get_json()["records"] if t["id"] == str(token.id))
    assert revoked["user_id"] is None and revoked["revoked_at"] is not None


def test_bulk_upsert_needs_at_least_one_user(api: Api) -> None:
    assert error(api.post("/v1/users/email-only/bulk", {"users": []}), 400) == "users: At least one user is required"
