"""Schemathesis against /v1/openapi.json, one call at a time and in stateful sequences (each created id
followed into GET/PATCH/DELETE and the actions that take it): no input makes a 5xx, every answer fits the
documented status codes, content types and schemas, every error has the standard body, and no answer ever
holds a stored secret."""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from psycopg_pool import ConnectionPool
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from api.app import create_app
from shared.db import transaction
from shared.settings import Settings
from tests.conftest import Tenant, make_tenant
from tests.services import truncate_all

# About a dozen cases for each of the ~30 operations, both fitting the schema and not: a few hundred in
# all, well under a minute. `make fuzz` raises PUNCTUAL_FUZZ_EXAMPLES for a longer hunt.
EXAMPLES_PER_OPERATION = int(os.environ.get("PUNCTUAL_FUZZ_EXAMPLES", "12"))
STATEFUL_SCENARIOS = int(os.environ.get("PUNCTUAL_FUZZ_SCENARIOS", str(max(15, EXAMPLES_PER_OPERATION))))
# The bounded slice in `make test` is the same every run; a longer hunt draws new cases each time.
DERANDOMIZE = "PUNCTUAL_FUZZ_EXAMPLES" not in os.environ

# Credentials stored through the API before fuzzing; no response may ever contain one of them.
WEBHOOK_SECRET = "whsec_cGxhbnRlZC13ZWJob29rLXNlY3JldC0wMQ=="  # base64 of "planted-webhook-secret-01"
SFTP_PASSWORD = "planted-sftp-password-5b1e"
DATA_SOURCE_PASSWORD = "planted-dsn-password-77c4"
HEADER_VALUE = "Bearer planted-header-credential-0d9a"
SLACK_TOKEN = "plantedSlackToken3f2c"
PLANTED = (WEBHOOK_SECRET, SFTP_PASSWORD, DATA_SOURCE_PASSWORD, HEADER_VALUE, SLACK_TOKEN,
           "cGxhbnRlZC13ZWJob29rLXNlY3JldC0wMQ", "planted-header-credential")
HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"


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


@schemathesis.check
def no_stored_secret(ctx: schemathesis.CheckContext, response: schemathesis.Response,
                     case: schemathesis.Case) -> bool | None:
    """No planted credential appears in a response's body or headers."""
    seen = response.content.decode("utf-8", "replace") + json.dumps(dict(response.headers))
    leaked = [secret for secret in PLANTED if secret in seen]
    assert not leaked, f"{case.method} {case.path} answered a stored secret: {leaked}"
    return None


CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance,
          response_headers_conformance, standard_error_body, no_stored_secret]


@pytest.fixture()
def fuzz_app(base_settings: Settings, clean: None) -> Iterator[Flask]:
    # Thousands of calls on one token: the rate limits would answer 429 (documented, but it would hide
    # everything behind it). Quotas keep their defaults: reaching one is part of what is fuzzed.
    app = create_app(replace(base_settings, rate_limit="100000000 per minute",
                             auth_failure_limit="100000000 per minute"))
    yield app
    app.extensions["punctual_pool"].close()


def _plant(app: Flask, tenant: Tenant, pool: ConnectionPool) -> dict[str, str]:
    """Rows of every kind, holding known secrets, so generated calls also reach real rows; returns their ids."""
    client = app.test_client()

    def post(path: str, body: dict[str, Any]) -> dict[str, Any]:
        response = client.post(path, headers=tenant.headers, json=body)
        assert response.status_code in (200, 201), (path, response.get_json())
        return response.get_json()  # type: ignore[no-any-return]

    command = post("/v1/commands", {"name": "c", "kind": "template", "config": {"template": "x"},
                                    "filter_keys": ["region"]})
    post("/v1/commands", {"name": "h", "kind": "http", "config": {
        "url": "http://127.0.0.1:9/render", "headers": {"Authorization": HEADER_VALUE}}})
    post("/v1/data-sources", {"name": "wh", "url": f"postgresql://reader:{DATA_SOURCE_PASSWORD}@127.0.0.1:9/wh"})
    member = post("/v1/users", {"email": "member@example.com"})
    schedule = post("/v1/schedules", {"name": "s", "cron_expression": "0 9 * * *", "command_id": command["id"],
                                      "destination": {"type": "email"}, "subscriber_user_ids": [member["id"]]})
    for destination in ({"type": "webhook", "url": "http://127.0.0.1:9/hook", "secret": WEBHOOK_SECRET},
                        {"type": "sftp", "host": "127.0.0.1", "username": "u", "password": SFTP_PASSWORD,
                         "host_key": HOST_KEY},
                        {"type": "slack", "url": f"http://127.0.0.1:9/services/T0/B0/{SLACK_TOKEN}"}):
        post("/v1/schedules", {"name": destination["type"], "cron_expression": "0 9 * * *",
                               "destination": destination})
    segment = post("/v1/lists", {"name": "Customers"})
    campaign = post("/v1/campaigns", {"name": "Spring", "segment_id": segment["id"], "content": {"text": "Hi"}})
    client.post(f"/v1/schedules/{schedule['id']}/trigger", headers=tenant.headers)
    run = client.get(f"/v1/schedules/{schedule['id']}/runs", headers=tenant.headers).get_json()["records"][0]
    with transaction(pool) as conn:
        delivery = conn.execute(
            """INSERT INTO deliveries (organization_id, run_id, schedule_id, recipient_key, destination_type,
                                      status) VALUES (%s, %s, %s, 'member@example.com', 'email', 'failed')
               RETURNING id""", (tenant.organization_id, run["id"], schedule["id"])).fetchone()
        token = conn.execute("SELECT id FROM api_tokens WHERE organization_id = %s",
                             (tenant.organization_id,)).fetchone()
    assert delivery is not None and token is not None
    return {"command_id": command["id"], "schedule_id": schedule["id"], "run_id": run["id"],
            "delivery_id": str(delivery[0]), "user_id": member["id"], "own_token_id": str(token[0]),
            "list_id": segment["id"], "campaign_id": campaign["id"]}


def _spare_own_token(case: schemathesis.Case, own_token_id: str) -> None:
    # Revoking the token the fuzz calls with would turn every later call into a 401.
    if case.path_parameters and case.path_parameters.get("token_id") == own_token_id:
        case.path_parameters["token_id"] = "00000000-0000-0000-0000-000000000000"


def _strategy(operation: Any) -> Any:
    strategies = [operation.as_strategy(GenerationMode.POSITIVE)]
    try:
        strategies.append(operation.as_strategy(GenerationMode.NEGATIVE))
    except Exception:  # an operation with nothing to make invalid (no parameters, no body)
        pass
    return st.one_of(strategies)


def test_no_input_makes_a_server_error_or_leaves_the_schema(fuzz_app: Flask, pool: ConnectionPool) -> None:
    # Hypothesis is driven here rather than through schemathesis' pytest plugin, whose lazy fixture
    # loader does not work with pytest 9; every operation of the document is still covered.
    tenant = make_tenant(pool)
    schema = schemathesis.openapi.from_wsgi("/v1/openapi.json", fuzz_app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 30
    real = _plant(fuzz_app, tenant, pool)
    statuses: Counter[int] = Counter()
    per_operation: Counter[str] = Counter()
    for operation in operations:

        @given(case=_strategy(operation), use_real=st.booleans())
        @settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, derandomize=DERANDOMIZE, database=None,
                  suppress_health_check=list(HealthCheck))
        def check(case: schemathesis.Case, use_real: bool) -> None:
            if use_real and case.path_parameters:
                case.path_parameters = {k: real.get(k, v) for k, v in case.path_parameters.items()}
            _spare_own_token(case, real["own_token_id"])
            response = case.call(headers=tenant.headers)
            case.validate_response(response, checks=CHECKS)
            statuses[response.status_code] += 1
            per_operation[operation.label] += 1

        check()
    print(f"schemathesis: {sum(statuses.values())} cases over {len(operations)} operations "
          f"({min(per_operation.values())} to {max(per_operation.values())} each), "
          f"statuses {dict(sorted(statuses.items()))}")
    # Fewer than asked only where hypothesis ran out of distinct inputs (an operation with none or few).
    short = {label: n for label, n in sorted(per_operation.items()) if n < EXAMPLES_PER_OPERATION}
    print(f"schemathesis: input space exhausted before {EXAMPLES_PER_OPERATION} cases: {short or 'none'}")
    assert sum(statuses.values()) >= 5 * len(operations)
    assert statuses[200] + statuses[201] + statuses[204] > len(operations)  # valid input went all the way through


def test_stateful_sequences_never_fail_a_check(fuzz_app: Flask, pool: ConnectionPool, database_url: str) -> None:
    schema = schemathesis.openapi.from_wsgi("/v1/openapi.json", fuzz_app)
    steps: Counter[str] = Counter()
    statuses: Counter[int] = Counter()

    class Sequences(schema.as_state_machine()):  # type: ignore[misc]
        """Links inferred from the document: each response's ids feed the operations that take them."""

        def setup(self) -> None:
            # Every sequence starts from the same rows: what a step may draw depends on earlier answers,
            # and Hypothesis replays sequences, so leftovers of another one would make its draws differ.
            truncate_all(database_url)
            self.tenant = make_tenant(pool)
            self.own_token = _plant(fuzz_app, self.tenant, pool)["own_token_id"]

        def before_call(self, case: schemathesis.Case) -> None:
            _spare_own_token(case, self.own_token)

        def get_call_kwargs(self, case: schemathesis.Case) -> dict[str, Any]:
            return {"headers": self.tenant.headers}

        def validate_response(self, response: schemathesis.Response, case: schemathesis.Case,
                              additional_checks: Any = None, **kwargs: Any) -> None:
            case.validate_response(response, checks=CHECKS, transport_kwargs=kwargs)
            steps[case.operation.label] += 1
            statuses[response.status_code] += 1

    Sequences.run(settings=settings(max_examples=STATEFUL_SCENARIOS, stateful_step_count=8, deadline=None,
                                    derandomize=DERANDOMIZE, database=None, suppress_health_check=list(HealthCheck)))
    print(f"schemathesis stateful: {sum(steps.values())} calls in {STATEFUL_SCENARIOS} sequences over "
          f"{len(steps)} operations, statuses {dict(sorted(statuses.items()))}")
    assert len(steps) >= 10  # the sequences reached many operations, not only the first
    assert statuses[200] + statuses[201] + statuses[204] > 0
