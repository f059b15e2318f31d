"""Schemathesis against /v1/openapi.json: no input makes a 5xx, and every error has the standard body."""

from __future__ import annotations

import json
import os
from collections import Counter

import schemathesis
from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error

from tests.conftest import Tenant

# About a dozen cases for each of the ~25 operations: a few hundred in all, well under a minute.
# PUNCTUAL_FUZZ_EXAMPLES raises it for a longer hunt.
EXAMPLES_PER_OPERATION = int(os.environ.get("PUNCTUAL_FUZZ_EXAMPLES", "12"))


@schemathesis.check
def standard_error_body(ctx: schemathesis.CheckContext, response: schemathesis.Response,
                        case: schemathesis.Case) -> bool | None:
    """Every 4xx/5xx answers {"detail": str, "status": <the status code>}."""
    if response.status_code < 400:
        return None
    body = json.loads(response.content)
    assert isinstance(body, dict) and set(body) == {"detail", "status"}, body
    assert isinstance(body["detail"], str) and body["detail"], body
    assert body["status"] == response.status_code, body
    return None


def _real_ids(flask_app: Flask, tenant: Tenant) -> dict[str, str]:
    """A command, an email schedule under it and a run, so generated calls also reach real rows."""
    client = flask_app.test_client()
    command = client.post("/v1/commands", headers=tenant.headers, json={
        "name": "c", "kind": "template", "config": {"template": "x"}, "filter_keys": ["region"]}).get_json()
    schedule = client.post("/v1/schedules", headers=tenant.headers, json={
        "name": "s", "cron_expression": "0 9 * * *", "command_id": command["id"],
        "destination": {"type": "email"}}).get_json()
    client.post(f"/v1/schedules/{schedule['id']}/trigger", headers=tenant.headers)
    run = client.get(f"/v1/schedules/{schedule['id']}/runs", headers=tenant.headers).get_json()["records"][0]
    return {"command_id": command["id"], "schedule_id": schedule["id"], "run_id": run["id"]}


def test_no_input_makes_a_server_error(flask_app: Flask, tenant: Tenant) -> None:
    # Hypothesis is driven here rather than through schemathesis' pytest plugin, whose lazy fixture
    # loader does not work with pytest 9; every operation of the document is still covered.
    schema = schemathesis.openapi.from_wsgi("/v1/openapi.json", flask_app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 25
    real = _real_ids(flask_app, tenant)
    statuses: Counter[int] = Counter()
    for operation in operations:

        @given(case=operation.as_strategy(), use_real=st.booleans())
        @settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))
        def check(case: schemathesis.Case, use_real: bool) -> None:
            if use_real and case.path_parameters:
                case.path_parameters = {k: real.get(k, v) for k, v in case.path_parameters.items()}
            response = case.call_and_validate(headers=tenant.headers,
                                              checks=[not_a_server_error, standard_error_body])
            statuses[response.status_code] += 1

        check()
    print(f"schemathesis: {sum(statuses.values())} cases over {len(operations)} operations, "
          f"statuses {dict(sorted(statuses.items()))}")
    assert sum(statuses.values()) >= 5 * len(operations)
    assert statuses[200] + statuses[201] > 0  # some generated input was valid and went all the way through
