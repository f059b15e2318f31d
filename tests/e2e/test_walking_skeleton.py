"""The whole system over real processes: API (gunicorn), beat, a worker, a webhook receiver."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
import requests

from shared.settings import Settings
from tests.conftest import Tenant
from tests.processes import Process, start_api, start_beat, start_worker, wait_for
from tests.servers import HttpSink


@pytest.fixture()
def system(settings: Settings, log_dir: Path, clean: None) -> Iterator[str]:
    api, base = start_api(settings, log_dir)
    procs: list[Process] = [api, start_beat(settings, log_dir), start_worker(settings, log_dir)]
    try:
        yield base
    finally:
        for proc in procs:
            proc.stop()


def _create_webhook_schedule(base: str, tenant: Tenant, url: str, cron: str = "* * * * *") -> dict:
    response = requests.post(f"{base}/v1/schedules", headers=tenant.headers, json={
        "name": "Every minute", "cron_expression": cron, "timezone": "Europe/London",
        "destination": {"type": "webhook", "url": url}, "run_mode": "once_distribute",
    }, timeout=10)
    assert response.status_code == 201, response.text
    return response.json()


def _runs(base: str, tenant: Tenant, schedule_id: str) -> list[dict]:
    response = requests.get(f"{base}/v1/schedules/{schedule_id}/runs", headers=tenant.headers, timeout=10)
    assert response.status_code == 200, response.text
    return response.json()["records"]


@pytest.mark.broker
def test_trigger_fires_now_and_webhook_is_delivered(system: str, tenant: Tenant, http_sink: HttpSink) -> None:
    schedule = _create_webhook_schedule(system, tenant, f"{http_sink.url}/hook", cron="0 9 * * MON")
    response = requests.post(f"{system}/v1/schedules/{schedule['id']}/trigger", headers=tenant.headers,
                             timeout=10)
    assert response.json() == {"success": True}

    runs = wait_for(lambda: [r for r in _runs(system, tenant, schedule["id"]) if r["status"] == "complete"])
    assert len(runs) == 1 and runs[0]["trigger"] == "manual"
    assert len(http_sink.requests) == 1
    received = http_sink.requests[0]
    assert received.method == "POST" and received.path == "/hook"
    assert received.headers["Idempotency-Key"]

    detail = requests.get(f"{system}/v1/runs/{runs[0]['id']}", headers=tenant.headers, timeout=10).json()
    assert detail["deliveries"][0]["status"] == "delivered"
    assert detail["deliveries"][0]["attempts_log"][0]["outcome"] == "delivered"
    assert detail["deliveries"][0]["attempts_log"][0]["response_code"] == 200


def test_cron_slot_fires_once_from_beat(system: str, tenant: Tenant, http_sink: HttpSink) -> None:
    schedule = _create_webhook_schedule(system, tenant, f"{http_sink.url}/minutely")
    slot = datetime.fromisoformat(schedule["next_run_time"])

    runs = wait_for(lambda: [r for r in _runs(system, tenant, schedule["id"]) if r["status"] == "complete"],
                    timeout=90)
    assert [datetime.fromisoformat(r["scheduled_for"]) for r in runs] == [slot]
    assert runs[0]["trigger"] == "schedule"
    assert len(http_sink.requests) == 1
    after = requests.get(f"{system}/v1/schedules/{schedule['id']}", headers=tenant.headers, timeout=10).json()
    assert datetime.fromisoformat(after["next_run_time"]) > slot
    assert after["last_status"] == "complete"


def test_health_reports_database_broker_and_beat(system: str, tenant: Tenant) -> None:
    assert requests.get(f"{system}/v1/health", timeout=10).json() == {"status": "ok"}
    body = wait_for(lambda: (r := requests.get(f"{system}/v1/health/detail", headers=tenant.headers,
                                               timeout=10).json())["beat"]["last_tick_at"] and r)
    assert body["database"]["ok"] is True
    assert body["broker"]["ok"] is True
    assert body["beat"]["live_beats"] >= 1
