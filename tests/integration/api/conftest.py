"""Helpers for API tests: a client bound to a tenant's token, and rows the API cannot create."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient
from psycopg_pool import ConnectionPool

from shared.db import transaction
from tests.conftest import Tenant, make_tenant

WEBHOOK = {"type": "webhook", "url": "http://127.0.0.1:9/hook"}
EMAIL = {"type": "email", "subject": "Report {{ schedule }}", "body": "Hello"}


class Api:
    """The Flask test client with a tenant's bearer token on every call."""

    def __init__(self, client: FlaskClient, tenant: Tenant) -> None:
        self.client = client
        self.tenant = tenant

    def call(self, method: str, path: str, json: Any = None, **kwargs: Any) -> Any:
        headers = {**self.tenant.headers, **kwargs.pop("headers", {})}
        return self.client.open(path, method=method, json=json, headers=headers, **kwargs)

    def get(self, path: str, **kwargs: Any) -> Any:
        return self.call("GET", path, **kwargs)

    def post(self, path: str, json: Any = None, **kwargs: Any) -> Any:
        return self.call("POST", path, json, **kwargs)

    def put(self, path: str, json: Any = None, **kwargs: Any) -> Any:
        return self.call("PUT", path, json, **kwargs)

    def patch(self, path: str, json: Any = None, **kwargs: Any) -> Any:
        return self.call("PATCH", path, json, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> Any:
        return self.call("DELETE", path, **kwargs)

    def create_schedule(self, **fields: Any) -> dict[str, Any]:
        body = {"name": "Weekly", "cron_expression": "0 9 * * MON", "timezone": "UTC", "destination": WEBHOOK,
                **fields}
        response = self.post("/v1/schedules", body)
        assert response.status_code == 201, response.get_json()
        return response.get_json()  # type: ignore[no-any-return]

    def create_command(self, **fields: Any) -> dict[str, Any]:
        body = {"name": "Sales", "kind": "template", "config": {"template": "hi"}, "filter_keys": ["region", "team"],
                **fields}
        response = self.post("/v1/commands", body)
        assert response.status_code == 201, response.get_json()
        return response.get_json()  # type: ignore[no-any-return]


def error(response: Any, status: int) -> str:
    """Assert the standard error body with this status and return its detail."""
    body = response.get_json()
    assert response.status_code == status, body
    assert set(body) == {"detail", "status"} and body["status"] == status, body
    assert isinstance(body["detail"], str)
    return body["detail"]  # type: ignore[no-any-return]


def insert_member(pool: ConnectionPool, organization_id: str, email: str, name: str | None = None) -> str:
    """A member user (members come from the product, not from this API)."""
    with transaction(pool) as conn:
        row = conn.execute("INSERT INTO users (organization_id, kind, email, name) VALUES (%s, 'member', %s, %s) "
                           "RETURNING id", (organization_id, email, name)).fetchone()
    assert row is not None
    return str(row[0])


@pytest.fixture()
def api(client: FlaskClient, tenant: Tenant) -> Api:
    return Api(client, tenant)


@pytest.fixture()
def other_api(client: FlaskClient, pool: ConnectionPool) -> Api:
    return Api(client, make_tenant(pool, "Globex"))
