"""Commands over HTTP on a real database: per-kind config validation, filter keys, paging."""

from __future__ import annotations

from tests.integration.api.conftest import Api, error

MISSING = "00000000-0000-0000-0000-0000000000cc"


def test_create_each_kind_with_defaults(api: Api) -> None:
    http = api.create_command(kind="http", config={"url": "http://127.0.0.1:9/report"}, filter_keys=[])
    assert http["config"] == {"url": "http://127.0.0.1:9/report", "method": "POST", "has_headers": False}
    template = api.create_command(kind="template", config={"template": "Hi {{ name }}"})
    assert template["config"] == {"template": "Hi {{ name }}", "content_type": "text"}
    assert template["filter_keys"] == ["region", "team"]
    listed = api.get("/v1/commands").get_json()
    assert [c["id"] for c in listed["records"]] == [http["id"], template["id"]]
    assert api.get(f"/v1/commands/{http['id']}").get_json() == http


def test_config_errors_name_the_field(api: Api) -> None:
    cases = [
        ({"kind": "shell", "config": {}}, "kind: Must be one of"),
        ({"kind": "http", "config": {}}, "config.url: Missing data for required field."),
        ({"kind": "http", "config": {"url": "http://10.0.0.1/x"}}, "config.url: host 10.0.0.1"),
        ({"kind": "http", "config": {"url": "http://127.0.0.1/", "method": "DELETE"}}, "config.method:"),
        ({"kind": "http", "config": {"url": "http://127.0.0.1/", "headers": {"X": 1}}}, "config.headers.X:"),
        ({"kind": "sql", "config": {"data_source": "x", "query": "q"}}, "config.data_source: Unknown data source"),
        ({"kind": "template", "config": {"template": "t", "content_type": "pdf"}}, "config.content_type:"),
        ({"kind": "template", "config": {"template": "t", "colour": 1}}, "config.colour: Not a field of command"),
        ({"kind": "template", "config": {"template": "t"}, "filter_keys": ["ok", "1bad"]}, "filter_keys:"),
        ({"kind": "template", "config": {"template": "t"}, "filter_keys": ["a", "a"]}, "filter_keys: Duplicate"),
        ({"kind": "template"}, "config: Missing data for required field."),
    ]
    for body, expected in cases:
        assert error(api.post("/v1/commands", {"name": "c", **body}), 400).startswith(expected), body
    assert api.get("/v1/commands").get_json()["page_info"]["total_records"] == 0


def test_patch_and_delete(api: Api) -> None:
    command = api.create_command()
    cid = command["id"]
    assert api.patch(f"/v1/commands/{cid}", {"name": "Renamed"}).get_json()["name"] == "Renamed"
    changed = api.patch(f"/v1/commands/{cid}", {"kind": "http", "config": {"url": "http://127.0.0.1:9/"}})
    assert changed.get_json()["kind"] == "http"
    assert error(api.patch(f"/v1/commands/{cid}", {"kind": "template"}), 400).startswith("config: Missing")
    schedule = api.create_schedule(command_id=cid, filters={"region": "emea"})
    assert error(api.patch(f"/v1/commands/{cid}", {"filter_keys": ["team"]}), 400) == \
        "filter_keys: Cannot remove keys still used by schedules: region"
    assert error(api.delete(f"/v1/commands/{cid}"), 409).startswith("Command is used by 1 schedule(s)")
    assert api.delete(f"/v1/schedules/{schedule['id']}").status_code == 204
    assert api.delete(f"/v1/commands/{cid}").status_code == 204
    assert error(api.get(f"/v1/commands/{cid}"), 404) == f"Command with id {cid} does not exist"
    assert error(api.get("/v1/commands/zzz"), 400) == "command_id: Invalid uuid"
    assert error(api.patch(f"/v1/commands/{MISSING}", {"name": "x"}), 404).startswith("Command with id")
    assert error(api.delete(f"/v1/commands/{MISSING}"), 404).startswith("Command with id")


def test_commands_are_paged(api: Api) -> None:
    ids = [api.create_command(name=f"c{i}")["id"] for i in range(5)]
    seen, cursor = [], ""
    while True:
        page = api.get(f"/v1/commands?page_size=2{cursor}").get_json()
        seen.extend(c["id"] for c in page["records"])
        if not page["page_info"]["has_next_page"]:
            break
        cursor = f"&cursor={page['page_info']['next_cursor']}"
    assert seen == ids
    assert error(api.get("/v1/commands?page_size=101"), 400) == "Page size cannot exceed 100"
