"""Scheduled messages over HTTP: create, local_id replay, read, list, replace and cancel while scheduled, refusals
that name the field or the state and write nothing; the organization's message gateway."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from psycopg_pool import ConnectionPool

from shared.crypto import decrypt_secret
from shared.db import transaction
from tests.conftest import TEST_SECRET_KEY
from tests.integration.api.conftest import Api, error, insert_member
from tests.integration.api.test_one_shot import fire_due_now

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
GATEWAY = {"url": "http://127.0.0.1:9/sms", "secret": SECRET}
TABLES = ("schedules", "scheduled_messages", "users", "runs", "contact_lists")


def slot(minutes: int = 45) -> str:
    now = datetime.now(UTC)
    at = now.replace(minute=now.minute - now.minute % 15, second=0, microsecond=0) + timedelta(minutes=minutes)
    return at.isoformat()


def body(**fields: Any) -> dict[str, Any]:
    full = {"execute_at": slot(), "content": {"text": "Your table is ready"}, "to": ["ann@example.com"], **fields}
    return {key: value for key, value in full.items() if value is not None}  # None: leave the field out


def counts(pool: ConnectionPool) -> dict[str, int]:
    with transaction(pool) as conn:
        return {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in TABLES}  # type: ignore[index]


def _schedule_of(pool: ConnectionPool, message_id: str) -> str:
    with transaction(pool) as conn:
        row = conn.execute("SELECT schedule_id FROM scheduled_messages WHERE id = %s", (message_id,)).fetchone()
    assert row is not None
    return str(row[0])


def test_create_read_and_replay_by_local_id(api: Api, pool: ConnectionPool) -> None:
    created = api.post("/v1/scheduled-messages", body(local_id="order-42"))
    answer = created.get_json()
    assert created.status_code == 201, answer
    assert set(answer) == {"id", "local_id", "execute_at", "status"}
    assert answer["local_id"] == "order-42" and answer["status"] == "scheduled"
    assert datetime.fromisoformat(answer["execute_at"]) == datetime.fromisoformat(slot())
    before = counts(pool)
    replay = api.post("/v1/scheduled-messages", body(local_id="order-42"))
    assert replay.status_code == 200 and replay.get_json() == answer
    assert counts(pool) == before
    detail = error(api.post("/v1/scheduled-messages", body(local_id="order-42", to=["bob@example.com"])), 409)
    assert detail.startswith("local_id: ") and answer["id"] in detail
    assert counts(pool) == before
    read = api.get(f"/v1/scheduled-messages/{answer['id']}").get_json()
    assert read["content"] == {"text": "Your table is ready", "attachments": []}
    assert read["to"] == ["ann@example.com"] and read["user_id"] is None and read["list_id"] is None
    assert read["published_at"] is None and read["sent_at"] is None
    assert read["deliveries"] == {"total": 0, "delivered": 0, "failed": 0}
    # Its schedule is hidden from the schedules routes.
    assert api.get("/v1/schedules").get_json()["records"] == []
    assert error(api.get(f"/v1/schedules/{_schedule_of(pool, answer['id'])}"), 404)


def test_every_bad_input_names_the_field_and_writes_nothing(api: Api, other_api: Api, pool: ConnectionPool) -> None:
    member = insert_member(pool, api.tenant.organization_id, "ann@example.com")
    their_list = other_api.post("/v1/lists", {"name": "Theirs"}).get_json()["id"]
    their_user = insert_member(pool, other_api.tenant.organization_id, "eve@example.com")
    before = counts(pool)
    off_grid = (datetime.fromisoformat(slot()) + timedelta(minutes=7)).isoformat()
    too_soon = datetime.now(UTC).replace(second=0, microsecond=0).isoformat()
    cases: list[tuple[dict[str, Any], int, str]] = [
        (body(execute_at=off_grid), 400, "execute_at: must be on a 15-minute boundary"),
        (body(execute_at=too_soon), 400, "execute_at: must be"),
        (body(execute_at="tomorrow"), 400, "execute_at:"),
        (body(user_id=member), 400, "user_id/user_ids/list_id/to: Give exactly one target"),
        ({"execute_at": slot(), "content": {"text": "x"}}, 400, "user_id/user_ids/list_id/to: Give exactly one"),
        (body(list_id=their_list, to=None), 404, "list_id: "),
        (body(user_id=their_user, to=None), 404, "user_id: "),
        (body(user_ids=[member, their_user], to=None), 404, "user_ids: "),
        (body(to=["+1 415 555 0100"]), 400, "to: '+1 415 555 0100' is not an E.164 phone number"),
        (body(to=["+14155550100"]), 400, "to: +14155550100 is a phone number and the organization has no message"),
        (body(local_id="x" * 256), 400, "local_id: "),
        (body(content={"template": "Hi {{ name }}"}), 400, "content.variables: "),
        (body(content={}), 400, "content.text: "),
        (body(sender_user_id=their_user), 404, "sender_user_id: "),
        (body(colour="red"), 400, "colour: Unknown field."),
    ]
    for sent, status, start in cases:
        detail = error(api.post("/v1/scheduled-messages", sent), status)
        assert detail.startswith(start), (sent, detail)
    assert counts(pool) == before


def test_gateway_set_shown_without_its_secret_then_phones_accepted(api: Api, pool: ConnectionPool) -> None:
    assert api.get("/v1/organization").get_json()["message_gateway"] is None
    assert error(api.patch("/v1/organization", {"message_gateway": {"url": "http://10.0.0.1/sms", "secret": SECRET}}),
                 400).startswith("message_gateway.url:")
    assert error(api.patch("/v1/organization", {"message_gateway": {"url": GATEWAY["url"], "secret": "hunter2"}}),
                 400).startswith("message_gateway.secret:")
    assert error(api.patch("/v1/organization", {"message_gateway": {"url": GATEWAY["url"]}}),
                 400).startswith("message_gateway.secret:")
    patched = api.patch("/v1/organization", {"message_gateway": GATEWAY}).get_json()
    assert patched["message_gateway"] == {"url": GATEWAY["url"], "has_secret": True}
    assert SECRET not in str(api.get("/v1/organization").get_data(as_text=True))
    with transaction(pool) as conn:
        stored = conn.execute("SELECT message_gateway_secret FROM organizations WHERE id = %s",
                              (api.tenant.organization_id,)).fetchone()
    assert stored is not None and SECRET.encode() not in bytes(stored[0])
    assert decrypt_secret(TEST_SECRET_KEY, bytes(stored[0])) == {"secret": SECRET}
    # A new URL keeps the stored secret.
    moved = api.patch("/v1/organization", {"message_gateway": {"url": "http://127.0.0.1:10/sms"}}).get_json()
    assert moved["message_gateway"] == {"url": "http://127.0.0.1:10/sms", "has_secret": True}
    created = api.post("/v1/scheduled-messages", body(to=["+14155550100", "ann@example.com"]))
    assert created.status_code == 201, created.get_json()
    assert api.patch("/v1/organization", {"message_gateway": None}).get_json()["message_gateway"] is None


def test_replace_and_cancel_while_scheduled_refused_once_fired(api: Api, pool: ConnectionPool) -> None:
    first = api.post("/v1/scheduled-messages", body(local_id="a")).get_json()
    replaced = api.put(f"/v1/scheduled-messages/{first['id']}",
                       body(execute_at=slot(60), content={"template": "Hi {{ n }}", "variables": {"n": 1}}))
    answer = replaced.get_json()
    assert replaced.status_code == 200, answer
    assert answer["content"]["template"] == "Hi {{ n }}" and answer["local_id"] == "a"
    assert datetime.fromisoformat(answer["execute_at"]) == datetime.fromisoformat(slot(60))
    assert error(api.put(f"/v1/scheduled-messages/{first['id']}", body(local_id="b")), 400).startswith("local_id:")
    fire_due_now(pool, _schedule_of(pool, first["id"]))
    assert api.get(f"/v1/scheduled-messages/{first['id']}").get_json()["status"] == "sending"
    before = counts(pool)
    assert error(api.put(f"/v1/scheduled-messages/{first['id']}", body()), 409) == \
        "Scheduled message is sending; cannot edit"
    assert error(api.delete(f"/v1/scheduled-messages/{first['id']}"), 409) == \
        "Scheduled message is sending; cannot cancel"
    assert counts(pool) == before

    second = api.post("/v1/scheduled-messages", body()).get_json()
    cancelled = api.delete(f"/v1/scheduled-messages/{second['id']}").get_json()
    assert cancelled["status"] == "cancelled" and cancelled["cancelled_at"] is not None
    assert error(api.put(f"/v1/scheduled-messages/{second['id']}", body()), 409) == \
        "Scheduled message is cancelled; cannot edit"
    listed = api.get("/v1/scheduled-messages?status=cancelled").get_json()
    assert [m["id"] for m in listed["records"]] == [second["id"]]
    everything = api.get("/v1/scheduled-messages?page_size=1").get_json()
    assert everything["page_info"]["total_records"] == 2 and everything["page_info"]["has_next_page"]
    rest = api.get(f"/v1/scheduled-messages?page_size=1&cursor={everything['page_info']['next_cursor']}").get_json()
    assert [m["id"] for m in everything["records"] + rest["records"]] == [first["id"], second["id"]]
    assert error(api.get("/v1/scheduled-messages?status=lost"), 400).startswith("status:")


def test_targets_users_and_lists_of_the_organization(api: Api, other_api: Api, pool: ConnectionPool) -> None:
    member = insert_member(pool, api.tenant.organization_id, "ann@example.com")
    list_id = api.post("/v1/lists", {"name": "VIP"}).get_json()["id"]
    for target in ({"user_id": member}, {"user_ids": [member]}, {"list_id": list_id}):
        created = api.post("/v1/scheduled-messages", body(to=None, **target))
        assert created.status_code == 201, created.get_json()
        read = api.get(f"/v1/scheduled-messages/{created.get_json()['id']}").get_json()
        key = next(iter(target))
        assert read[key] == target[key]
        assert error(other_api.get(f"/v1/scheduled-messages/{read['id']}"), 404)
        assert error(other_api.put(f"/v1/scheduled-messages/{read['id']}", body()), 404)
        assert error(other_api.delete(f"/v1/scheduled-messages/{read['id']}"), 404)
    assert other_api.get("/v1/scheduled-messages").get_json()["records"] == []


def test_openapi_documents_the_new_routes_with_their_errors(api: Api) -> None:
    paths = api.client.get("/v1/openapi.json").get_json()["paths"]
    expected = {
        ("/v1/scheduled-messages", "post"): {"200", "201", "400", "404", "409"},
        ("/v1/scheduled-messages", "get"): {"200", "400"},
        ("/v1/scheduled-messages/{message_id}", "get"): {"200", "400", "404"},
        ("/v1/scheduled-messages/{message_id}", "put"): {"200", "400", "404", "409"},
        ("/v1/scheduled-messages/{message_id}", "delete"): {"200", "400", "404", "409"},
        ("/v1/lists", "post"): {"201", "400"},
        ("/v1/lists/{list_id}", "patch"): {"200", "400", "404"},
        ("/v1/lists/{list_id}/add-members", "put"): {"200", "400", "404"},
        ("/v1/lists/{list_id}/remove-members", "put"): {"200", "400", "404"},
        ("/v1/organization", "patch"): {"200", "400"},
        ("/v1/schedules/{schedule_id}", "patch"): {"200", "400", "404", "409"},
    }
    for (path, method), codes in expected.items():
        assert codes <= set(paths[path][method]["responses"]), (path, method)
