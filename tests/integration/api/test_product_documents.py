"""Requests exactly as the Humm and Omni documents write them (in snake_case), over HTTP on a real database."""

from __future__ import annotations

from typing import Any

from psycopg_pool import ConnectionPool

from shared.db import transaction
from tests.integration.api.conftest import EMAIL, WEBHOOK, Api, error, insert_member

NO_RECIPIENTS = "No recipients: runs of this schedule are skipped until recipients are added"


def _humm_body(api: Api, command_id: str, subscribers: list[str]) -> dict[str, Any]:
    # Humm's command schedule: no destination, no name; the subscribers are who receives it.
    return {
        "command_id": command_id,
        "organization_id": api.tenant.organization_id,
        "cron_expression": "0 9 * * 1",
        "timezone": "America/New_York",
        "enabled": True,
        "name": None,
        "run_mode": "per_subscriber",
        "subscriber_user_ids": subscribers,
    }


def test_humm_command_schedule_emails_its_subscribers(api: Api, pool: ConnectionPool) -> None:
    command = api.create_command(name="Weekly digest")
    ana = insert_member(pool, api.tenant.organization_id, "ana@acme.example", "Ana")
    bo = api.post("/v1/users/email-only", {"email": "bo@acme.example", "timezone": "Europe/Paris"}).get_json()["id"]

    response = api.post(f"/v1/commands/{command['id']}/schedules", _humm_body(api, command["id"], [ana, bo]))

    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["name"] == "Weekly digest" and body["command_id"] == command["id"]
    assert body["destination"] == {"type": "email", "has_secret": False}
    assert body["run_mode"] == "per_subscriber" and body["timezone"] == "America/New_York"
    assert body["recipient_count"] == 2 and body["warnings"] == []
    with transaction(pool) as conn:
        subscribed = conn.execute("SELECT user_id::text FROM schedule_subscribers WHERE schedule_id = %s",
                                  (body["id"],)).fetchall()
    assert sorted(r[0] for r in subscribed) == sorted([ana, bo])

    absent = {k: v for k, v in _humm_body(api, command["id"], [ana]).items() if k != "name"}
    assert api.post("/v1/schedules", absent).get_json()["name"] == "Weekly digest"
    named = api.post("/v1/schedules", {**absent, "name": "Mine"})
    assert named.status_code == 201 and named.get_json()["name"] == "Mine"


def test_a_command_id_in_the_body_must_be_the_paths(api: Api) -> None:
    command = api.create_command()
    other = api.create_command(name="Other")
    url = f"/v1/commands/{command['id']}/schedules"
    base = {"name": "x", "cron_expression": "0 9 * * 1", "destination": WEBHOOK}

    detail = error(api.post(url, {**base, "command_id": other["id"]}), 400)
    assert detail == (f"command_id: Does not match the command of the path ({command['id']}); "
                      "leave it out or give the same id")
    assert error(api.post(url, {**base, "command_id": None}), 400).startswith("command_id: Does not match")
    assert api.post(url, {**base, "command_id": command["id"]}).status_code == 201
    assert api.get("/v1/schedules").get_json()["page_info"]["total_records"] == 1


def test_without_destination_or_subscribers_nothing_would_be_delivered(api: Api) -> None:
    command = api.create_command()
    body = {"cron_expression": "0 9 * * 1", "name": "x"}
    expected = ("destination: Missing data for required field. Give a destination, or subscriber_user_ids to "
                "email each subscriber at their own address")
    assert error(api.post(f"/v1/commands/{command['id']}/schedules", body), 400) == expected
    assert error(api.post("/v1/schedules", {**body, "subscriber_user_ids": []}), 400) == expected
    no_name = error(api.post("/v1/schedules", {"cron_expression": "0 9 * * 1", "destination": WEBHOOK,
                                               "name": None}), 400)
    assert no_name == ("name: Missing data for required field. Give a name, or a command_id to name the schedule "
                       "after its command")
    assert api.get("/v1/schedules").get_json()["records"] == []


def test_omni_structured_filters_are_accepted_beside_plain_ones(api: Api) -> None:
    command = api.create_command(filter_keys=["region", "country", "amount", "active", "team"])
    filters = {
        "region": {"kind": "EQ", "left_side": "US", "type": "string"},
        "country": {"kind": "IN", "left_side": ["US", "CA"], "type": "string"},
        "amount": {"kind": "BETWEEN", "left_side": 10, "right_side": 99.5, "type": "number"},
        "active": {"kind": "NOT_EQ", "left_side": False, "type": "boolean"},
        "team": "ops",
    }
    body = api.create_schedule(command_id=command["id"], filters=filters)
    assert body["filters"] == filters
    assert api.get(f"/v1/schedules/{body['id']}").get_json()["filters"] == filters
    for kind in ("GT", "GTE", "LT", "LTE"):
        changed = api.patch(f"/v1/schedules/{body['id']}",
                            {"filters": {"amount": {"kind": kind, "left_side": 5, "type": "number"}}})
        assert changed.status_code == 200 and changed.get_json()["filters"]["amount"]["kind"] == kind


def test_structured_filter_errors_name_the_key(api: Api) -> None:
    command = api.create_command(filter_keys=["region", "amount"])
    cases = [
        ({"region": {"kind": "LIKE", "left_side": "US", "type": "string"}},
         "filters.region.kind: Must be one of: EQ, NOT_EQ, IN, NOT_IN, GT, GTE, LT, LTE, BETWEEN."),
        ({"region": {"kind": "EQ", "left_side": "US", "type": "text"}},
         "filters.region.type: Must be one of: string, number, boolean."),
        ({"region": {"kind": "EQ", "left_side": "US"}}, "filters.region.type: Missing data for required field."),
        ({"region": {"left_side": "US", "type": "string"}}, "filters.region.kind: Missing data for required field."),
        ({"region": {"kind": "EQ", "type": "string"}}, "filters.region.left_side: Missing data for required field."),
        ({"region": {"kind": "EQ", "left_side": 1, "type": "string"}},
         "filters.region.left_side: Must be a string for kind EQ"),
        ({"region": {"kind": "IN", "left_side": "US", "type": "string"}},
         "filters.region.left_side: Must be a list of 1 to 1000 string values for kind IN"),
        ({"region": {"kind": "IN", "left_side": [], "type": "string"}},
         "filters.region.left_side: Must be a list of 1 to 1000 string values for kind IN"),
        ({"region": {"kind": "GT", "left_side": "US", "type": "string"}},
         "filters.region.kind: GT does not apply to type string (kinds for string: EQ, NOT_EQ, IN, NOT_IN)."),
        ({"amount": {"kind": "GT", "left_side": "5", "type": "number"}},
         "filters.amount.left_side: Must be a number for kind GT"),
        ({"amount": {"kind": "GT", "left_side": True, "type": "number"}},
         "filters.amount.left_side: Must be a number for kind GT"),
        ({"amount": {"kind": "BETWEEN", "left_side": 5, "type": "number"}},
         "filters.amount.right_side: Missing data for required field (BETWEEN takes left_side and right_side)."),
        ({"amount": {"kind": "BETWEEN", "left_side": 5, "right_side": 1, "type": "number"}},
         "filters.amount.right_side: Must not be less than left_side"),
        ({"amount": {"kind": "EQ", "left_side": 5, "right_side": 6, "type": "number"}},
         "filters.amount.right_side: Only kind BETWEEN takes a right_side"),
        ({"amount": {"kind": "EQ", "left_side": 5, "type": "number", "label": "Amount"}},
         "filters.amount.label: Unknown field (a structured filter has kind, type, left_side, right_side)."),
        ({"region": [{"kind": "EQ"}]}, "filters.region: Must be a string, number, boolean, a list of them, or a "
                                       "structured filter"),
        ({"region2": {"kind": "EQ", "left_side": "US", "type": "string"}},
         "Invalid filter keys found in schedule configuration: region2. Available filter keys are: region, amount"),
    ]
    for filters, expected in cases:
        detail = error(api.post("/v1/schedules", {"name": "x", "cron_expression": "0 9 * * 1", "destination": WEBHOOK,
                                                  "command_id": command["id"], "filters": filters}), 400)
        assert detail.startswith(expected), (filters, detail)
    assert api.get("/v1/schedules").get_json()["records"] == []


def test_invalid_filter_keys_say_there_are_none_when_none_are_declared(api: Api) -> None:
    command = api.create_command(filter_keys=[])
    body = {"name": "x", "cron_expression": "0 9 * * 1", "destination": WEBHOOK,
            "filters": {"region": {"kind": "EQ", "left_side": "US", "type": "string"}}}
    expected = "Invalid filter keys found in schedule configuration: region. Available filter keys are: none"
    assert error(api.post("/v1/schedules", {**body, "command_id": command["id"]}), 400) == expected
    assert error(api.post("/v1/schedules", body), 400) == expected  # no command declares none either


def test_a_template_that_does_not_compile_is_refused_when_saved(api: Api) -> None:
    bad = "Hello {{ subscriber.name }}\n{% if filters.region %}\nno end"
    detail = error(api.post("/v1/commands", {"name": "t", "kind": "template", "config": {"template": bad}}), 400)
    assert detail == ("config.template: Template syntax error on line 2: Unexpected end of template. Jinja was "
                      "looking for the following tags: 'elif' or 'else' or 'endif'. The innermost block that needs "
                      "to be closed is 'if'.")
    unknown_filter = {"name": "t", "kind": "template", "config": {"template": "{{ 3 | shout }}"}}
    assert error(api.post("/v1/commands", unknown_filter), 400) == \
        "config.template: Template syntax error on line 1: No filter named 'shout'."
    deep = {"name": "t", "kind": "template", "config": {"template": "{% if a %}" * 200 + "{% endif %}" * 200}}
    assert error(api.post("/v1/commands", deep), 400) == "config.template: Template is nested too deeply"
    command = api.create_command()
    patched = api.patch(f"/v1/commands/{command['id']}", {"config": {"template": "{{ oops", "content_type": "html"}})
    assert error(patched, 400).startswith("config.template: Template syntax error on line 1: unexpected end of "
                                          "template")
    assert api.get(f"/v1/commands/{command['id']}").get_json()["config"]["template"] == "hi"


def test_an_email_subject_or_body_that_does_not_parse_is_refused_when_saved(api: Api) -> None:
    base = {"name": "x", "cron_expression": "0 9 * * 1"}
    subject = error(api.post("/v1/schedules", {**base, "destination": {"type": "email",
                                                                       "subject": "Sales {{ schedule.name"}}), 400)
    assert subject.startswith("destination.subject: Template syntax error on line 1: ")
    sid = api.create_schedule(destination=EMAIL)["id"]
    body = error(api.patch(f"/v1/schedules/{sid}", {"destination": {"type": "email", "body": "a\nb {% endfor %}"}}),
                 400)
    assert body == "destination.body: Template syntax error on line 2: Encountered unknown tag 'endfor'."
    assert api.get(f"/v1/schedules/{sid}").get_json()["destination"]["body"] == EMAIL["body"]


def test_an_email_schedule_without_recipients_says_it_will_not_deliver(api: Api, pool: ConnectionPool) -> None:
    created = api.create_schedule(destination=EMAIL)
    assert created["recipient_count"] == 0 and created["warnings"] == [NO_RECIPIENTS]
    sid = created["id"]
    api.put(f"/v1/schedules/{sid}/add-recipients", {"emails": ["a@acme.example", "b@acme.example"]})
    shown = api.get(f"/v1/schedules/{sid}").get_json()
    assert shown["recipient_count"] == 2 and shown["warnings"] == []
    emptied = api.patch(f"/v1/schedules/{sid}", {"subscriber_user_ids": []}).get_json()
    assert emptied["recipient_count"] == 0 and emptied["warnings"] == [NO_RECIPIENTS]
    assert api.create_schedule()["warnings"] == []  # a webhook has its own address


def test_openapi_documents_errors_ids_and_nullable_references(api: Api) -> None:
    spec = api.get("/v1/openapi.json").get_json()
    assert "PaginationMetadata" not in spec["components"]["schemas"]
    assert "PAGINATION" not in spec["components"].get("headers", {})
    retry = spec["paths"]["/v1/deliveries/{delivery_id}/retry"]
    assert retry["parameters"][0]["schema"] == {"type": "string", "format": "uuid"}
    assert {"400", "401", "404", "405", "409", "413", "429"} <= set(retry["post"]["responses"])
    alert = spec["components"]["schemas"]["ScheduleOut"]["properties"]["alert"]
    assert alert == {"allOf": [{"$ref": "#/components/schemas/Alert"}], "nullable": True}
    pause = spec["paths"]["/v1/schedules/{schedule_id}/pause"]["put"]["responses"]
    assert "400" in pause and "409" not in pause
    assert "405" in spec["paths"]["/v1/schedules"]["get"]["responses"]
    assert "null" in spec["components"]["schemas"]["ScheduleOut"]["properties"]["next_run_time"]["description"]
    assert "named after the command" in spec["components"]["schemas"]["ScheduleCreate"]["properties"]["name"][
        "description"]

    response = api.call("DELETE", "/v1/schedules")
    assert error(response, 405) == "Method not allowed" and set(response.headers["Allow"].split(", ")) >= {"GET",
                                                                                                           "POST"}
