"""Campaigns carried out by real processes: the API (gunicorn), beat, workers, and a real SMTP server.

The slot rules are shortened for these processes only (PUNCTUAL_SEND_SLOT_SECONDS,
PUNCTUAL_SEND_MIN_LEAD_SECONDS), so a campaign is scheduled a few seconds ahead."""

from __future__ import annotations

import email
import email.policy
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests

from shared.settings import Settings
from tests.conftest import Tenant
from tests.processes import Process, start_api, start_beat, start_worker, wait_for
from tests.servers import SmtpSink

GRID_S = 4
LEAD_S = 2
MEMBERS = ["ada@example.com", "grace@example.com", "edsger@example.com"]
SKIPPED = ["barbara@example.com", "ken@example.com"]


class Client:
    def __init__(self, base: str, tenant: Tenant) -> None:
        self.base, self.tenant = base, tenant

    def call(self, method: str, path: str, body: Any = None, expect: int = 200) -> Any:
        response = requests.request(method, f"{self.base}{path}", json=body, headers=self.tenant.headers, timeout=10)
        assert response.status_code == expect, response.text
        return response.json()

    def segment(self, name: str, emails: list[str]) -> str:
        lid = str(self.call("POST", "/v1/lists", {"name": name}, 201)["id"])
        self.call("PUT", f"/v1/lists/{lid}/add-members", {"emails": emails})
        return lid

    def campaign(self, name: str, segment: str) -> str:
        body = {"name": name, "segment_id": segment, "content": {"subject": f"{name} news", "text": f"{name} body"}}
        return str(self.call("POST", "/v1/campaigns", body, 201)["id"])


def next_slot() -> datetime:
    """The first slot on the shortened grid at least the shortened lead ahead, plus one grid step of margin."""
    now = time.time() + LEAD_S + 1
    return datetime.fromtimestamp((int(now) // GRID_S + 1) * GRID_S, UTC)


@pytest.fixture()
def system(settings: Settings, log_dir: Path, clean: None) -> Iterator[tuple[Settings, Path, SmtpSink, str, dict]]:
    sink = SmtpSink().start()
    env = {"PUNCTUAL_SEND_SLOT_SECONDS": str(GRID_S), "PUNCTUAL_SEND_MIN_LEAD_SECONDS": str(LEAD_S),
           "PUNCTUAL_SMTP_PORT": str(sink.port)}
    api, base = start_api(settings, log_dir, **env)
    procs: list[Process] = [api, start_beat(settings, log_dir, **env)]
    try:
        yield settings, log_dir, sink, base, env
    finally:
        for proc in procs:
            proc.stop()
        sink.stop()


def test_a_campaign_goes_from_draft_to_sent_and_a_cancelled_one_sends_nothing(
        system: tuple[Settings, Path, SmtpSink, str, dict], tenant: Tenant) -> None:
    settings, log_dir, sink, base, env = system
    client = Client(base, tenant)
    sent_id = client.campaign("Spring", client.segment("Customers", MEMBERS))
    cancelled_id = client.campaign("Winter", client.segment("Lapsed", SKIPPED))
    assert client.call("GET", f"/v1/campaigns/{sent_id}")["status"] == "draft"

    slot = next_slot()
    for cid in (sent_id, cancelled_id):
        scheduled = client.call("POST", f"/v1/campaigns/{cid}/schedule", {"scheduled_at": slot.isoformat()})
        assert scheduled["status"] == "scheduled"
    assert client.call("POST", f"/v1/campaigns/{cancelled_id}/cancel")["status"] == "cancelled"

    # Only the runs pool at first: beat fires the send at the slot, its deliveries wait for a delivery pool.
    workers = [start_worker(settings, log_dir, queues="runs", **env)]
    try:
        sending = wait_for(lambda: (c := client.call("GET", f"/v1/campaigns/{sent_id}"))["status"] == "sending"
                           and c["published_at"] and c, timeout=30)
        assert datetime.fromisoformat(sending["published_at"]) >= slot and sending["sent_at"] is None
        refused = requests.post(f"{base}/v1/campaigns/{sent_id}/cancel", headers=tenant.headers, timeout=10)
        assert refused.status_code == 412
        assert refused.json() == {"detail": "Campaign is sending; cannot cancel", "status": 412}
        assert sink.messages == []

        workers.append(start_worker(settings, log_dir, queues="deliver.email", pool="threads", **env))
        sent = wait_for(lambda: (c := client.call("GET", f"/v1/campaigns/{sent_id}"))["status"] == "sent" and c,
                        timeout=60)
    finally:
        for worker in workers:
            worker.stop()
    assert sent["deliveries"] == {"total": 3, "delivered": 3, "failed": 0}
    assert datetime.fromisoformat(sent["sent_at"]) >= datetime.fromisoformat(sent["published_at"])

    received = sorted((rcpt, message) for message in sink.messages for rcpt in message.rcpt_tos)
    assert [rcpt for rcpt, _ in received] == sorted(MEMBERS)  # one email per member, none to the cancelled list
    for _, message in received:
        parsed = email.message_from_bytes(message.content, policy=email.policy.default)
        assert parsed["Subject"] == "Spring news"
        assert "Spring body" in parsed.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert client.call("GET", f"/v1/campaigns/{cancelled_id}")["status"] == "cancelled"
    assert client.call("POST", f"/v1/campaigns/{sent_id}/schedule",
                       {"scheduled_at": (slot + timedelta(hours=1)).isoformat()}, 412) == \
        {"detail": "Campaign is sent; cannot schedule", "status": 412}
