"""Scheduled messages through real processes (API, beat, a worker) with the slot rules shortened through their
environment: delivered once by email (a real SMTP server) and by the message gateway (a real HTTP server whose
signature this test verifies on its own), edited before the slot, refused after, cancelled before it."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import math
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

import pytest
import requests

from shared.settings import Settings
from tests.conftest import Tenant
from tests.processes import Process, start_api, start_beat, start_worker, wait_for
from tests.servers import HttpSink, SmtpSink

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
GRID_S, LEAD_S = 2, 2
PHONE = "+14155550100"


@pytest.fixture()
def smtp_sink() -> Iterator[SmtpSink]:
    sink = SmtpSink().start()
    yield sink
    sink.stop()


@pytest.fixture()
def system(settings: Settings, log_dir: Path, clean: None, smtp_sink: SmtpSink) -> Iterator[str]:
    # The shortened slot rules reach every process through its environment, as an operator would set them.
    env = {"PUNCTUAL_SEND_SLOT_SECONDS": str(GRID_S), "PUNCTUAL_SEND_MIN_LEAD_SECONDS": str(LEAD_S),
           "PUNCTUAL_SMTP_PORT": str(smtp_sink.port), "PUNCTUAL_MAIL_FROM": "messages@punctual.test"}
    api, base = start_api(settings, log_dir, **env)
    procs: list[Process] = [api, start_beat(settings, log_dir, **env), start_worker(settings, log_dir, **env)]
    try:
        yield base
    finally:
        for proc in procs:
            proc.stop()


def next_slot(ahead_s: float) -> str:
    """The first slot on the shortened grid at least `ahead_s` seconds from now."""
    at = math.ceil((time.time() + ahead_s) / GRID_S) * GRID_S
    return datetime.fromtimestamp(at, UTC).isoformat()


def call(base: str, tenant: Tenant, method: str, path: str, body: Any = None) -> requests.Response:
    return requests.request(method, f"{base}{path}", headers=tenant.headers, json=body, timeout=10)


def verify_signature(headers: dict[str, str], body: bytes, secret: str) -> bool:
    """Standard Webhooks, checked the way a receiver would: HMAC-SHA256 of id.timestamp.body, base64."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    offered = [part.removeprefix("v1,") for part in headers["webhook-signature"].split()]
    return any(hmac.compare_digest(expected, sig) for sig in offered) and \
        abs(time.time() - int(headers["webhook-timestamp"])) < 300


def _status(base: str, tenant: Tenant, message_id: str) -> str:
    return str(call(base, tenant, "GET", f"/v1/scheduled-messages/{message_id}").json()["status"])


def test_messages_are_delivered_once_edited_before_and_refused_after(
        system: str, tenant: Tenant, smtp_sink: SmtpSink, http_sink: HttpSink) -> None:
    assert call(system, tenant, "PATCH", "/v1/organization",
                {"message_gateway": {"url": f"{http_sink.url}/sms", "secret": SECRET}}).status_code == 200
    slot = next_slot(LEAD_S + 4)
    first = {"execute_at": slot, "content": {"text": "draft"}, "to": ["ann@example.com", PHONE],
             "local_id": "reminder-1"}
    created = call(system, tenant, "POST", "/v1/scheduled-messages", first)
    assert created.status_code == 201, created.text
    message = created.json()
    replay = call(system, tenant, "POST", "/v1/scheduled-messages", first)
    assert replay.status_code == 200 and replay.json() == message
    # A list is resolved at the slot: the member added after the message was created receives it.
    list_id = call(system, tenant, "POST", "/v1/lists", {"name": "Team"}).json()["id"]
    to_list = call(system, tenant, "POST", "/v1/scheduled-messages",
                   {"execute_at": slot, "content": {"text": "Stand-up moved"}, "list_id": list_id}).json()
    assert call(system, tenant, "PUT", f"/v1/lists/{list_id}/add-members",
                {"emails": ["bob@example.com"]}).json()["added_members_count"] == 1
    # Edited before its slot: what is sent is the new content.
    content = {"template": "Hi {{ name }}, your table is ready", "variables": {"name": "Ann"},
               "subject": "Your table", "attachments": ["https://example.com/menu.pdf"]}
    edited = call(system, tenant, "PUT", f"/v1/scheduled-messages/{message['id']}", {**first, "content": content})
    assert edited.status_code == 200, edited.text
    # Cancelled before its slot: nothing is delivered.
    cancelled = call(system, tenant, "POST", "/v1/scheduled-messages",
                     {"execute_at": slot, "content": {"text": "never"}, "to": ["carol@example.com"]}).json()
    assert call(system, tenant, "DELETE", f"/v1/scheduled-messages/{cancelled['id']}").json()["status"] == "cancelled"

    wait_for(lambda: _status(system, tenant, message["id"]) == "sent" and
             _status(system, tenant, to_list["id"]) == "sent", timeout=60)
    time.sleep(2 * GRID_S)  # long enough for a second firing or a duplicate delivery to show
    text = "Hi Ann, your table is ready\n\nhttps://example.com/menu.pdf"
    mails = {tuple(m.rcpt_tos): message_from_bytes(m.content, policy=policy.default) for m in smtp_sink.messages}
    assert sorted(mails) == [("ann@example.com",), ("bob@example.com",)], [m.rcpt_tos for m in smtp_sink.messages]
    ann = mails[("ann@example.com",)]
    body = ann.get_content().replace("\r\n", "\n").strip()  # type: ignore[attr-defined]
    assert ann["Subject"] == "Your table" and body == text
    assert not ann.is_multipart()
    assert mails[("bob@example.com",)].get_content().strip() == "Stand-up moved"  # type: ignore[attr-defined]
    assert len(http_sink.requests) == 1
    sms = http_sink.requests[0]
    assert sms.path == "/sms" and verify_signature(sms.headers, sms.body, SECRET)
    payload = json.loads(sms.body)
    assert payload == {"to": PHONE, "text": text, "message_id": sms.headers["webhook-id"]}
    assert not verify_signature(sms.headers, sms.body + b" ", SECRET)

    read = call(system, tenant, "GET", f"/v1/scheduled-messages/{message['id']}").json()
    assert read["deliveries"] == {"total": 2, "delivered": 2, "failed": 0}
    assert read["published_at"] is not None and read["sent_at"] is not None
    assert _status(system, tenant, cancelled["id"]) == "cancelled"
    refused = call(system, tenant, "PUT", f"/v1/scheduled-messages/{message['id']}", first)
    assert refused.status_code == 409 and refused.json()["detail"] == "Scheduled message is sent; cannot edit"
    refused = call(system, tenant, "DELETE", f"/v1/scheduled-messages/{message['id']}")
    assert refused.status_code == 409 and refused.json()["detail"] == "Scheduled message is sent; cannot cancel"
    assert call(system, tenant, "POST", "/v1/scheduled-messages", first).json() == {**message, "status": "sent"}


def test_one_shot_schedule_refuses_edits_once_fired(system: str, tenant: Tenant, http_sink: HttpSink) -> None:
    created = call(system, tenant, "POST", "/v1/schedules", {
        "name": "Once", "execute_at": next_slot(LEAD_S + 1), "run_mode": "once_distribute",
        "destination": {"type": "webhook", "url": f"{http_sink.url}/once"}})
    assert created.status_code == 201, created.text
    schedule = created.json()
    wait_for(lambda: call(system, tenant, "GET", f"/v1/schedules/{schedule['id']}").json()["last_status"]
             == "complete", timeout=60)
    refused = call(system, tenant, "PATCH", f"/v1/schedules/{schedule['id']}", {"execute_at": next_slot(LEAD_S + 2)})
    assert refused.status_code == 409 and "already fired" in refused.json()["detail"]
    assert call(system, tenant, "PUT", f"/v1/schedules/{schedule['id']}/pause").status_code == 200
    resumed = call(system, tenant, "PUT", f"/v1/schedules/{schedule['id']}/resume").json()
    assert resumed["next_run_time"] is None
    time.sleep(2 * GRID_S)
    assert len(http_sink.requests) == 1
