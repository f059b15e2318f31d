"""Single-tile delivery and row limits over HTTP, sent as Omni documents them (in snake_case).

Omni's `queryIdentifierMapKey`, `maxRowLimit` and `overrideRowLimit` are Punctual's `query_key`,
`max_row_limit` and `override_row_limit`; a command declares its named results (an sql command's
`queries`, an http command's `result_keys`).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from psycopg.conninfo import conninfo_to_dict

from shared.settings import Settings
from tests.integration.api.conftest import Api, error

QUERIES = {"sales": "SELECT region, amount FROM wh_sales", "returns": "SELECT region, refunds FROM wh_returns"}


@pytest.fixture()
def warehouse(api: Api, base_settings: Settings) -> str:
    port = conninfo_to_dict(base_settings.database_url).get("port") or 5432
    created = api.post("/v1/data-sources", {"name": "warehouse", "url": f"postgresql://r:pw@127.0.0.1:{port}/wh"})
    assert created.status_code == 201, created.get_json()
    return "warehouse"


def _send(api: Api, method: str, path: str, body: dict[str, Any]) -> Any:
    # Sent as a client writes it: Flask's test client would sort the keys, and their order is the point.
    return api.call(method, path, data=json.dumps(body), content_type="application/json")


def _tiles_command(api: Api, warehouse: str, **config: Any) -> dict[str, Any]:
    response = _send(api, "POST", "/v1/commands", {"name": "Pack", "kind": "sql", "config": {
        "data_source": warehouse, "queries": QUERIES, **config}})
    assert response.status_code == 201, response.get_json()
    return response.get_json()  # type: ignore[no-any-return]


def _omni_body(command_id: str, **fields: Any) -> dict[str, Any]:
    # Omni's create-schedule body: identifier, name, schedule, timezone, format, destinationType, url.
    return {"command_id": command_id, "name": "My Webhook schedule", "cron_expression": "0 9 ? * * *",
            "timezone": "UTC", "format": "json", "destination": {"type": "webhook", "url": "http://127.0.0.1:9/hook"},
            **fields}


def test_an_sql_command_declares_its_named_results_in_order(api: Api, warehouse: str) -> None:
    created = _tiles_command(api, warehouse, result_keys=["returns", "sales"])
    derived = _tiles_command(api, warehouse)

    assert created["config"] == {"data_source": "warehouse", "queries": QUERIES, "result_keys": ["returns", "sales"],
                                 "row_limit": 10000, "timeout_s": 30}
    assert derived["config"]["result_keys"] == ["sales", "returns"]  # the order the queries were given in
    assert api.get(f"/v1/commands/{created['id']}").get_json()["config"]["result_keys"] == ["returns", "sales"]


@pytest.mark.parametrize(("config", "message"), [
    ({"query": "SELECT 1", "queries": QUERIES}, "config.query: Give either query or queries, not both"),
    ({}, "config.query: Missing data for required field. Give query, or queries for several named results"),
    ({"queries": {}}, "config.queries: Give between 1 and 20 results"),
    ({"queries": ["SELECT 1"]}, "config.queries: Must be an object of result keys to queries"),
    ({"queries": {f"q{i}": "SELECT 1" for i in range(21)}}, "config.queries: Give between 1 and 20 results"),
    ({"queries": {"sales/q1": "SELECT 1"}}, "config.queries: 'sales/q1' is not a valid result key (1 to 31 letters, "
                                            "digits, _, . or -, starting with a letter, digit or _)"),
    ({"queries": {"x" * 32: "SELECT 1"}}, "is not a valid result key"),
    ({"queries": {"Sales": "SELECT 1", "sales": "SELECT 2"}},
     "config.queries: Duplicate result key sales (keys must differ in more than case)"),
    ({"queries": {"sales": ""}}, "config.queries.sales: Missing data for required field."),
    ({"queries": {"sales": 5}}, "config.queries.sales: Not a valid string."),
    ({"queries": QUERIES, "result_keys": ["sales"]},
     "config.result_keys: Must list the keys of config.queries (sales, returns), each once, in the order the results "
     "are delivered"),
    ({"query": "SELECT 1", "result_keys": ["sales"]},
     "config.result_keys: Only with config.queries (the keys of its queries)"),
])
def test_a_bad_multi_query_config_is_refused_naming_the_field(api: Api, warehouse: str, config: dict[str, Any],
                                                              message: str) -> None:
    response = _send(api, "POST", "/v1/commands", {"name": "Pack", "kind": "sql",
                                                   "config": {"data_source": warehouse, **config}})
    assert message in error(response, 400)
    assert api.get("/v1/commands").get_json()["records"] == []


def test_an_http_command_may_declare_the_results_its_renderer_answers(api: Api) -> None:
    created = api.create_command(kind="http", config={"url": "http://127.0.0.1:9/render",
                                                      "result_keys": ["sales", "returns"]})
    plain = api.create_command(kind="http", config={"url": "http://127.0.0.1:9/render", "result_keys": []})
    refused = api.post("/v1/commands", {"name": "x", "kind": "http", "config": {
        "url": "http://127.0.0.1:9/render", "result_keys": ["sales", "sales"]}})

    assert created["config"]["result_keys"] == ["sales", "returns"]
    assert "result_keys" not in plain["config"]
    assert error(refused, 400) == "config.result_keys: Duplicate result key sales (keys must differ in more than case)"


def test_query_key_delivers_one_tile_and_is_returned(api: Api, warehouse: str) -> None:
    command = _tiles_command(api, warehouse)
    response = api.post("/v1/schedules", _omni_body(command["id"], query_key="returns"))

    body = response.get_json()
    assert response.status_code == 201, body
    assert (body["query_key"], body["max_row_limit"], body["override_row_limit"]) == ("returns", None, False)
    assert api.get(f"/v1/schedules/{body['id']}").get_json()["query_key"] == "returns"
    every = api.create_schedule(command_id=command["id"])
    assert every["query_key"] is None
    cleared = api.patch(f"/v1/schedules/{body['id']}", {"query_key": None})
    assert cleared.status_code == 200 and cleared.get_json()["query_key"] is None


def test_an_unknown_query_key_answers_omnis_message_and_saves_nothing(api: Api, warehouse: str) -> None:
    tiles = _tiles_command(api, warehouse)
    single = api.create_command(kind="sql", config={"data_source": warehouse, "query": "SELECT 1"})
    template = api.create_command()

    for command in (tiles, single, template):
        response = api.post("/v1/schedules", _omni_body(command["id"], query_key="invalid-key"))
        assert error(response, 400) == "Couldn't find query presentation for key: invalid-key"
    no_command = _omni_body(tiles["id"], query_key="sales")
    del no_command["command_id"]
    assert error(api.post("/v1/schedules", no_command), 400) == "Couldn't find query presentation for key: sales"
    path = api.post(f"/v1/commands/{tiles['id']}/schedules", {**_omni_body(tiles["id"]), "query_key": "Sales"})
    assert error(path, 400) == "Couldn't find query presentation for key: Sales"  # keys are case-sensitive
    assert api.get("/v1/schedules").get_json()["records"] == []


def test_changing_the_key_or_the_command_checks_the_key_again(api: Api, warehouse: str) -> None:
    tiles = _tiles_command(api, warehouse)
    single = api.create_command(kind="sql", config={"data_source": warehouse, "query": "SELECT 1"})
    schedule = api.create_schedule(command_id=tiles["id"], query_key="sales")

    assert error(api.patch(f"/v1/schedules/{schedule['id']}", {"query_key": "refunds"}), 400) == (
        "Couldn't find query presentation for key: refunds")
    assert error(api.patch(f"/v1/schedules/{schedule['id']}", {"command_id": single["id"]}), 400) == (
        "Couldn't find query presentation for key: sales")
    moved = api.patch(f"/v1/schedules/{schedule['id']}", {"command_id": single["id"], "query_key": None})
    assert moved.status_code == 200 and moved.get_json()["command_id"] == single["id"]


def test_a_command_keeps_the_results_its_schedules_deliver(api: Api, warehouse: str) -> None:
    tiles = _tiles_command(api, warehouse)
    api.create_schedule(command_id=tiles["id"], query_key="returns")

    dropped = api.patch(f"/v1/commands/{tiles['id']}", {"config": {"data_source": warehouse,
                                                                   "queries": {"sales": QUERIES["sales"]}}})
    assert error(dropped, 400) == ("config.result_keys: Cannot remove results still delivered by schedules (their "
                                   "query_key): returns")
    to_template = api.patch(f"/v1/commands/{tiles['id']}", {"kind": "template", "config": {"template": "hi"}})
    assert error(to_template, 400).startswith("config.result_keys: Cannot remove results")
    added = _send(api, "PATCH", f"/v1/commands/{tiles['id']}", {"config": {
        "data_source": warehouse, "queries": {**QUERIES, "stock": "SELECT 1"}}})
    assert added.status_code == 200 and added.get_json()["config"]["result_keys"] == ["sales", "returns", "stock"]


def test_a_workbook_of_several_results_names_its_sheets_after_the_keys(api: Api, warehouse: str) -> None:
    tiles = _tiles_command(api, warehouse)
    refused = api.post("/v1/schedules", _omni_body(tiles["id"], format="xlsx", format_options={"sheet_name": "Q1"}))

    assert error(refused, 400) == ("format_options.sheet_name: This schedule delivers 2 results (sales, returns), "
                                   "one sheet each, named after its key; give query_key to deliver one of them, or "
                                   "leave sheet_name out")
    one = api.create_schedule(command_id=tiles["id"], query_key="sales", format="xlsx",
                              format_options={"sheet_name": "Q1"})
    assert one["format_options"] == {"sheet_name": "Q1"}
    assert error(api.patch(f"/v1/schedules/{one['id']}", {"query_key": None}), 400).startswith(
        "format_options.sheet_name: This schedule delivers 2 results")


def test_max_row_limit_past_the_default_cap_needs_override_row_limit(api: Api) -> None:
    command = api.create_command()
    capped = api.post("/v1/schedules", _omni_body(command["id"], max_row_limit=500))
    over = api.post("/v1/schedules", _omni_body(command["id"], max_row_limit=10001))
    overridden = api.post("/v1/schedules", _omni_body(command["id"], max_row_limit=250000, override_row_limit=True))
    everything = api.post("/v1/schedules", _omni_body(command["id"], override_row_limit=True))

    assert capped.status_code == 201 and capped.get_json()["max_row_limit"] == 500
    assert error(over, 400) == ("max_row_limit: Must be at most 10000 unless override_row_limit is true (then up to "
                                "1000000)")
    assert overridden.status_code == 201
    assert (overridden.get_json()["max_row_limit"], overridden.get_json()["override_row_limit"]) == (250000, True)
    assert everything.status_code == 201 and everything.get_json()["max_row_limit"] is None
    assert [s["max_row_limit"] for s in api.get("/v1/schedules").get_json()["records"]] == [500, 250000, None]


@pytest.mark.parametrize(("fields", "message"), [
    ({"max_row_limit": 0}, "max_row_limit: Must be greater than or equal to 1 and less than or equal to 1000000."),
    ({"max_row_limit": 1000001, "override_row_limit": True},
     "max_row_limit: Must be greater than or equal to 1 and less than or equal to 1000000."),
    ({"max_row_limit": "500"}, "max_row_limit: Not a valid integer."),
    ({"max_row_limit": 12.5}, "max_row_limit: Not a valid integer."),
    ({"override_row_limit": 50000}, "override_row_limit: Must be true or false (the number of rows goes in "
                                    "max_row_limit)"),
    ({"override_row_limit": None}, "override_row_limit: Field may not be null."),
    ({"query_key": ""}, "query_key: Length must be between 1 and 255."),
])
def test_bad_row_limits_and_keys_name_the_field(api: Api, fields: dict[str, Any], message: str) -> None:
    command = api.create_command()
    assert error(api.post("/v1/schedules", _omni_body(command["id"], **fields)), 400) == message


def test_omnis_numeric_override_row_limit_of_one_reads_as_true(api: Api) -> None:
    command = api.create_command()
    response = api.post("/v1/schedules", _omni_body(command["id"], override_row_limit=1, max_row_limit=20000))
    assert response.status_code == 201 and response.get_json()["override_row_limit"] is True


def test_patching_the_row_limits_judges_them_together(api: Api) -> None:
    schedule = api.create_schedule(command_id=api.create_command()["id"], max_row_limit=50000,
                                   override_row_limit=True)
    path = f"/v1/schedules/{schedule['id']}"

    assert error(api.patch(path, {"override_row_limit": False}), 400).startswith("max_row_limit: Must be at most 10000")
    assert api.get(path).get_json()["override_row_limit"] is True
    lowered = api.patch(path, {"override_row_limit": False, "max_row_limit": 100})
    assert lowered.status_code == 200
    assert (lowered.get_json()["max_row_limit"], lowered.get_json()["override_row_limit"]) == (100, False)
    assert error(api.patch(path, {"max_row_limit": 20000}), 400).startswith("max_row_limit: Must be at most 10000")
    assert api.patch(path, {"max_row_limit": None}).get_json()["max_row_limit"] is None


def test_openapi_documents_query_key_and_the_row_limits(api: Api) -> None:
    schemas = api.get("/v1/openapi.json").get_json()["components"]["schemas"]
    create, shown = schemas["ScheduleCreate"]["properties"], schemas["ScheduleOut"]["properties"]

    assert create["max_row_limit"]["minimum"] == 1 and create["max_row_limit"]["maximum"] == 1000000
    assert create["override_row_limit"]["default"] is False and create["override_row_limit"]["type"] == "boolean"
    assert "queryIdentifierMapKey" in create["query_key"]["description"]
    assert "Couldn't find query presentation for key" in create["query_key"]["description"]
    assert {"query_key", "max_row_limit", "override_row_limit"} <= set(shown)
    assert {"query_key", "max_row_limit", "override_row_limit"} <= set(schemas["ScheduleUpdate"]["properties"])
    assert "queries" in schemas["CommandCreate"]["properties"]["config"]["description"]
