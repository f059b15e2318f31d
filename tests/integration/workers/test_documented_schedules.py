"""Schedules created through the API as Humm and Omni send them, then run by a real worker."""

from __future__ import annotations

import json
import uuid
from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from tests.conftest import Tenant, make_tenant
from tests.integration.workers.conftest import Warehouse, World, parse_mail
from tests.servers import HttpSink, SmtpSink


def _tenant_for(world: World, flask_app: Flask) -> tuple[Tenant, FlaskClient]:
    # The API's token and the world's rows belong to one organization.
    tenant = make_tenant(world.pool, "Acme API")
    world.org = uuid.UUID(tenant.organization_id)
    return tenant, flask_app.test_client()


def _created(response: Any) -> dict[str, Any]:
    assert response.status_code == 201, response.get_json()
    return response.get_json()  # type: ignore[no-any-return]


def test_humm_schedule_without_destination_emails_each_subscriber_in_their_zone(
        world: World, smtp_sink: SmtpSink, flask_app: Flask) -> None:
    smtp_sink.messages.clear()
    tenant, client = _tenant_for(world, flask_app)
    ana = world.user("ana@acme.example", name="Ana", timezone="America/New_York")
    bo = world.user("bo@acme.example", name="Bo", timezone="Asia/Tokyo")
    command = _created(client.post("/v1/commands", headers=tenant.headers, json={
        "name": "Digest", "kind": "template",
        "config": {"template": "{{ subscriber.email }} {{ timezone }}"}}))
    schedule = _created(client.post(f"/v1/commands/{command['id']}/schedules", headers=tenant.headers, json={
        "command_id": command["id"], "organization_id": tenant.organization_id, "cron_expression": "0 9 * * 1",
        "timezone": "America/New_York", "enabled": True, "name": None, "run_mode": "per_subscriber",
        "subscriber_user_ids": [str(ana), str(bo)]}))

    run = world.wait_run(world.fire(uuid.UUID(schedule["id"])))

    assert run["status"] == "complete", [d["last_error"] for d in world.deliveries(run["id"])]
    by_rcpt = {tuple(m.rcpt_tos): parse_mail(m.content) for m in smtp_sink.messages}
    assert set(by_rcpt) == {("ana@acme.example",), ("bo@acme.example",)}
    for (address,), message in by_rcpt.items():
        assert message["Subject"] == "Digest"  # the schedule took the command's name; default subject
        [attachment] = list(message.iter_attachments())
        zone = "Asia/Tokyo" if address.startswith("bo") else "America/New_York"
        assert attachment.get_content().strip() == f"{address} {zone}"


def test_sql_command_binds_structured_filters_as_operands(world: World, warehouse: Warehouse, http_sink: HttpSink,
                                                          flask_app: Flask) -> None:
    tenant, client = _tenant_for(world, flask_app)
    world.data_source(warehouse.name, warehouse.url)
    query = ("SELECT region, amount FROM wh_sales WHERE region = ANY(%(region)s) AND region <> %(excluded)s "
             "AND amount BETWEEN (%(amount)s)[1] AND (%(amount)s)[2] AND amount > %(floor)s ORDER BY amount")
    command = _created(client.post("/v1/commands", headers=tenant.headers, json={
        "name": "Sales", "kind": "sql", "config": {"data_source": warehouse.name, "query": query},
        "filter_keys": ["region", "excluded", "amount", "floor"]}))
    schedule = _created(client.post("/v1/schedules", headers=tenant.headers, json={
        "name": "Omni sales", "cron_expression": "0 9 ? * * *", "command_id": command["id"],
        "run_mode": "once_distribute", "destination": {"type": "webhook", "url": f"{http_sink.url}/rows"},
        "filters": {
            "region": {"kind": "IN", "left_side": ["east", "west", "north"], "type": "string"},
            "excluded": {"kind": "NOT_EQ", "left_side": "north", "type": "string"},
            "amount": {"kind": "BETWEEN", "left_side": 6, "right_side": 10, "type": "number"},
            "floor": {"kind": "GT", "left_side": 0, "type": "number"},
        }}))

    run = world.wait_run(world.fire(uuid.UUID(schedule["id"])))

    assert run["status"] == "complete", run["error"]
    assert json.loads(http_sink.requests[-1].body) == [{"region": "west", "amount": 7},
                                                       {"region": "east", "amount": 10}]


def test_http_command_receives_structured_filters_as_sent(world: World, http_sink: HttpSink,
                                                          flask_app: Flask) -> None:
    tenant, client = _tenant_for(world, flask_app)
    command = _created(client.post("/v1/commands", headers=tenant.headers, json={
        "name": "Renderer", "kind": "http", "config": {"url": f"{http_sink.url}/render"},
        "filter_keys": ["region", "team"]}))
    filters = {"region": {"kind": "EQ", "left_side": "US", "type": "string"}, "team": "ops"}
    schedule = _created(client.post("/v1/schedules", headers=tenant.headers, json={
        "name": "Rendered", "cron_expression": "0 9 * * *", "command_id": command["id"],
        "run_mode": "once_distribute", "filters": filters,
        "destination": {"type": "webhook", "url": f"{http_sink.url}/hook"}}))

    world.wait_run(world.fire(uuid.UUID(schedule["id"])))

    render = next(r for r in http_sink.requests if r.path.startswith("/render"))
    assert json.loads(render.body)["filters"] == filters
