"""Input that once made a 500: numbers Python will not read, cursors holding text PostgreSQL cannot store,
bulk upserts of the same addresses at the same time."""

from __future__ import annotations

import base64
import json
import threading
from typing import Any

import pytest
from flask import Flask

from tests.integration.api.conftest import Api, error


def test_an_integer_of_thousands_of_digits_is_invalid_json(api: Api) -> None:
    headers = {"Content-Type": "application/json"}
    huge = b"9" * 5000
    bodies = [
        ("/v1/schedules", b'{"name": "x", "cron_expression": "* * * * *", "destination": {"type": "email"}, '
                          b'"retry": {"max_attempts": ' + huge + b"}}"),
        ("/v1/users/email-only", b'{"email": "a@example.com", "user_attributes": {"n": [' + huge + b"]}}"),
        ("/v1/commands", b"[" + huge + b"]"),
    ]
    for path, raw in bodies:
        assert error(api.call("POST", path, data=raw, headers=headers), 400) == "Invalid JSON", path
    # Large but readable numbers are judged by the field, as any other value.
    big = b'{"email": "a@example.com", "user_attributes": {"n": ' + b"9" * 4000 + b"}}"
    assert error(api.call("POST", "/v1/users/email-only", data=big, headers=headers), 400).startswith(
        "User attribute n is not defined")
    assert api.get("/v1/schedules").get_json()["records"] == []


def _cursor(sort: str, value: object, is_time: bool = False) -> str:
    doc = {"s": sort, "v": value, "t": is_time, "i": "00000000-0000-0000-0000-000000000001", "n": 3}
    return base64.urlsafe_b64encode(json.dumps(doc).encode()).decode().rstrip("=")


@pytest.mark.parametrize("value", ["a\u0000b", "\ud800", "x\udfff", "2025-01-01T00:00:00+00:00\u0000"])
def test_a_cursor_holding_nul_or_a_lone_surrogate_is_invalid(api: Api, value: str) -> None:
    api.create_schedule(name="a")
    assert error(api.get(f"/v1/schedules?sort_field=name&cursor={_cursor('schedules:name:asc', value)}"),
                 400) == "cursor: Invalid cursor"
    assert error(api.get(f"/v1/users?cursor={_cursor('users:created_at:asc', value, is_time=True)}"),
                 400) == "cursor: Invalid cursor"


def test_concurrent_bulk_upserts_of_the_same_addresses_all_succeed(flask_app: Flask, api: Api) -> None:
    # Two callers upsert the same 20 addresses in opposite orders, again and again: rows locked in body
    # order would deadlock (one of them answering 500); locked in one order, both succeed.
    emails = [f"user{i:02}@example.com" for i in range(20)]
    failures: list[Any] = []
    for round_ in range(12):
        barrier = threading.Barrier(2)

        def upsert(order: list[str], name: str) -> None:
            client = Api(flask_app.test_client(), api.tenant)
            barrier.wait()
            response = client.post("/v1/users/email-only/bulk",
                                   {"users": [{"email": e, "name": name} for e in order]})
            if response.status_code != 200:
                failures.append(response.get_json())
            else:
                assert [u["email"] for u in response.get_json()["users"]] == order

        threads = [threading.Thread(target=upsert, args=(emails, f"a{round_}")),
                   threading.Thread(target=upsert, args=(emails[::-1], f"b{round_}"))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert failures == [], f"round {round_}: {failures}"
    assert api.get("/v1/users?page_size=100").get_json()["page_info"]["total_records"] == 20
