"""Email addresses with control characters are refused, for recipients and email-only users, and change nothing."""

from __future__ import annotations

import pytest
from psycopg_pool import ConnectionPool

from tests.integration.api.conftest import EMAIL, Api, error

CONTROLS = ["\x01", "\x08", "\t", "\n", "\r", "\x1b", "\x1f", "\x7f", "\x80", "\x85", "\x9b", "\x9f", "\u2028",
            "\u2029"]
REFUSED = "Invalid email address (control characters are not allowed)"


def _spellings(control: str) -> list[str]:
    return [f"ann{control}@example.com", f"ann@exa{control}mple.com", f"ann@example.com{control}",
            f"{control}ann@example.com"]


def _user_count(pool: ConnectionPool) -> int:
    with pool.connection() as conn:
        row = conn.execute("SELECT count(*) FROM users").fetchone()
    assert row is not None
    return int(row[0])


@pytest.mark.parametrize("control", CONTROLS, ids=[f"U+{ord(c):04X}" for c in CONTROLS])
def test_recipient_address_with_a_control_character_is_refused(api: Api, pool: ConnectionPool,
                                                               control: str) -> None:
    sid = api.create_schedule(destination=EMAIL)["id"]
    for address in _spellings(control):
        response = api.put(f"/v1/schedules/{sid}/add-recipients", {"emails": ["ok@example.com", address]})
        assert error(response, 400) == f"emails: {REFUSED}", repr(address)
    assert api.get(f"/v1/schedules/{sid}").get_json()["recipient_count"] == 0
    assert _user_count(pool) == 0


@pytest.mark.parametrize("control", CONTROLS, ids=[f"U+{ord(c):04X}" for c in CONTROLS])
def test_email_only_user_with_a_control_character_is_refused(api: Api, pool: ConnectionPool, control: str) -> None:
    for address in _spellings(control):
        assert error(api.post("/v1/users/email-only", {"email": address}), 400) == f"email: {REFUSED}", \
            repr(address)
    bulk = api.post("/v1/users/email-only/bulk", {"users": [{"email": "ok@example.com"},
                                                            {"email": f"bo{control}@example.com"}]})
    assert error(bulk, 400) == f"users.1: email: {REFUSED}"
    assert _user_count(pool) == 0


def test_nul_in_an_address_is_refused_too(api: Api, pool: ConnectionPool) -> None:
    sid = api.create_schedule(destination=EMAIL)["id"]
    assert api.put(f"/v1/schedules/{sid}/add-recipients", {"emails": ["ann\x00@example.com"]}).status_code == 400
    assert api.post("/v1/users/email-only", {"email": "ann@example.com\x00"}).status_code == 400
    assert _user_count(pool) == 0


def test_plain_addresses_and_surrounding_spaces_still_work(api: Api) -> None:
    sid = api.create_schedule(destination=EMAIL)["id"]
    added = api.put(f"/v1/schedules/{sid}/add-recipients", {"emails": ["  ann@example.com ", "Bo.Ørsted@example.dk"]})
    assert added.get_json() == {"added_recipients_count": 2, "success": True}
    user = api.post("/v1/users/email-only", {"email": " cy@example.com"}).get_json()
    assert user["email"] == "cy@example.com"
