"""Data sources over HTTP: per organization, URL write-only and encrypted, granted ones, Punctual's own refused."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import pytest
from flask import Flask
from psycopg.conninfo import conninfo_to_dict
from psycopg_pool import ConnectionPool

from api.app import create_app
from shared.data_sources import DataSourceGrant
from shared.db import transaction
from shared.settings import Settings
from tests.conftest import make_tenant
from tests.integration.api.conftest import Api, error

SECRET = "s3cr3t-pa55"


def _url(base: str, dbname: str = "warehouse", host: str = "127.0.0.1") -> str:
    port = conninfo_to_dict(base).get("port") or 5432
    return f"postgresql://reporting:{SECRET}@{f'[{host}]' if ':' in host else host}:{port}/{dbname}"


@pytest.fixture()
def granting_app(base_settings: Settings, pool: ConnectionPool) -> Iterator[tuple[Flask, Api, Api]]:
    acme, globex = make_tenant(pool, "Acme"), make_tenant(pool, "Globex")
    grants = {"lake": DataSourceGrant(_url(base_settings.database_url, "lake"), frozenset({acme.organization_id}))}
    app = create_app(replace(base_settings, data_sources=grants))
    client = app.test_client()
    yield app, Api(client, acme), Api(client, globex)
    app.extensions["punctual_pool"].close()


def test_a_data_source_url_is_write_only_and_encrypted(api: Api, pool: ConnectionPool,
                                                       base_settings: Settings) -> None:
    created = api.post("/v1/data-sources", {"name": "warehouse", "url": _url(base_settings.database_url)})

    body = created.get_json()
    assert created.status_code == 201, body
    assert body["name"] == "warehouse" and body["owner"] == "organization"
    assert SECRET not in str(body) and "url" not in body and "reporting" not in body["display_url"]
    assert body["display_url"].endswith("/warehouse")
    assert api.get(f"/v1/data-sources/{body['id']}").get_json() == body
    assert api.get("/v1/data-sources").get_json()["records"] == [body]
    with transaction(pool) as conn:
        stored = conn.execute("SELECT row_to_json(d)::text FROM data_sources d").fetchone()
    assert stored is not None and SECRET not in stored[0] and "reporting" not in stored[0]


def test_commands_name_only_their_own_organizations_data_sources(api: Api, other_api: Api,
                                                                 base_settings: Settings) -> None:
    theirs = other_api.post("/v1/data-sources", {"name": "globex_db", "url": _url(base_settings.database_url)})
    assert theirs.status_code == 201
    api.post("/v1/data-sources", {"name": "acme_db", "url": _url(base_settings.database_url, "acme")})

    refused = api.post("/v1/commands", {"name": "q", "kind": "sql",
                                        "config": {"data_source": "globex_db", "query": "SELECT 1"}})
    ok = api.post("/v1/commands", {"name": "q", "kind": "sql", "config": {"data_source": "acme_db",
                                                                          "query": "SELECT 1"}})

    assert error(refused, 400) == ("config.data_source: Unknown data source globex_db. "
                                   "Available data sources: acme_db")
    assert ok.status_code == 201
    assert ok.get_json()["config"] == {"data_source": "acme_db", "query": "SELECT 1", "row_limit": 10000,
                                       "timeout_s": 30}
    sid = theirs.get_json()["id"]
    assert error(api.get(f"/v1/data-sources/{sid}"), 404) == f"Data source with id {sid} does not exist"
    assert error(api.delete(f"/v1/data-sources/{sid}"), 404).endswith("does not exist")
    assert error(api.patch(f"/v1/data-sources/{sid}", {"name": "x"}), 404).endswith("does not exist")
    assert [d["name"] for d in api.get("/v1/data-sources").get_json()["records"]] == ["acme_db"]


def test_granted_data_sources_reach_only_the_organizations_named(granting_app: tuple[Flask, Api, Api]) -> None:
    _, acme, globex = granting_app
    query = {"data_source": "lake", "query": "SELECT 1"}

    assert acme.post("/v1/commands", {"name": "q", "kind": "sql", "config": query}).status_code == 201
    assert error(globex.post("/v1/commands", {"name": "q", "kind": "sql", "config": query}), 400) == (
        "config.data_source: Unknown data source lake. Available data sources: none (create one with "
        "POST /v1/data-sources)")
    assert acme.get("/v1/data-sources").get_json()["records"] == [
        {"id": None, "name": "lake", "owner": "granted", "display_url": None, "created_at": None,
         "updated_at": None}]
    assert globex.get("/v1/data-sources").get_json()["records"] == []
    assert error(acme.post("/v1/data-sources", {"name": "lake", "url": "postgresql://db.example.com/x"}),
                 400).startswith("name: lake is already the name of a data source granted")


def test_punctuals_own_database_is_never_a_data_source(api: Api, base_settings: Settings,
                                                       pool: ConnectionPool) -> None:
    own = conninfo_to_dict(base_settings.database_url)
    forms = [_url(base_settings.database_url, str(own["dbname"])),
             _url(base_settings.database_url, str(own["dbname"]), host="localhost"),
             _url(base_settings.database_url, str(own["dbname"]), host="::1")]
    for url in forms:
        detail = error(api.post("/v1/data-sources", {"name": "mine", "url": url}), 400)
        assert detail == "url: Points at Punctual's own database, which is never a data source", url
    made = api.post("/v1/data-sources", {"name": "mine", "url": _url(base_settings.database_url)}).get_json()
    detail = error(api.patch(f"/v1/data-sources/{made['id']}", {"url": forms[0]}), 400)
    assert detail.startswith("url: Points at Punctual's own database")
    with transaction(pool) as conn:
        assert conn.execute("SELECT count(*) FROM data_sources").fetchone() == (1,)


def test_data_source_hosts_follow_the_outbound_policy(api: Api, client: object, base_settings: Settings) -> None:
    strict = create_app(replace(base_settings, outbound_allowlist=()))
    try:
        guarded = Api(strict.test_client(), api.tenant)
        for host in ("127.0.0.1", "10.1.2.3", "::ffff:10.1.2.3", "169.254.169.254"):
            url = _url(base_settings.database_url, "wh", host=host)
            detail = error(guarded.post("/v1/data-sources", {"name": "wh", "url": url}), 400)
            assert "private or loopback address" in detail and SECRET not in detail, host
        for url in ("mysql://db/x", "postgresql:///wh?host=/var/run/postgresql", "not a url"):
            assert error(guarded.post("/v1/data-sources", {"name": "wh", "url": url}), 400).startswith("url: ")
    finally:
        strict.extensions["punctual_pool"].close()


def test_a_data_source_in_use_cannot_be_deleted_or_renamed(api: Api, base_settings: Settings) -> None:
    made = api.post("/v1/data-sources", {"name": "wh", "url": _url(base_settings.database_url)}).get_json()
    api.post("/v1/commands", {"name": "q", "kind": "sql", "config": {"data_source": "wh", "query": "SELECT 1"}})

    assert error(api.delete(f"/v1/data-sources/{made['id']}"), 409).startswith("Data source is used by 1 command")
    assert error(api.patch(f"/v1/data-sources/{made['id']}", {"name": "wh2"}), 409).startswith("name: 1 command")
    rotated = api.patch(f"/v1/data-sources/{made['id']}", {"url": _url(base_settings.database_url, "wh_new")})
    assert rotated.status_code == 200 and rotated.get_json()["display_url"].endswith("/wh_new")
    duplicate = api.post("/v1/data-sources", {"name": "wh", "url": _url(base_settings.database_url)})
    assert error(duplicate, 409) == "name: A data source named wh exists already"
