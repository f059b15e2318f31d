"""Prometheus metrics scraped from the real API (gunicorn, several workers) and a real beat while runs happen."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from api.embedded import free_port
from shared.settings import Settings
from tests.conftest import Tenant
from tests.processes import Process, start_api, start_beat, start_worker, wait_for
from tests.servers import HttpSink

pytestmark = pytest.mark.broker
METRICS_TOKEN = "metrics-token-0123456789"


@dataclass
class System:
    api: Process
    base: str
    beat_metrics: str
    settings: Settings
    log_dir: Path
    procs: list[Process]

    def scrape(self) -> str:
        response = requests.get(f"{self.base}/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"},
                                timeout=10)
        assert response.status_code == 200, response.text
        assert response.headers["Content-Type"].startswith("text/plain")
        return response.text

    def scrape_beat(self) -> str:
        response = requests.get(self.beat_metrics, timeout=10)
        assert response.status_code == 200
        return response.text


@pytest.fixture()
def system(settings: Settings, log_dir: Path, clean: None) -> Iterator[System]:
    beat_port = free_port()
    # Access log on, so the test can read gunicorn's own events in Punctual's format.
    api, base = start_api(settings, log_dir, PUNCTUAL_METRICS_TOKEN=METRICS_TOKEN,
                          GUNICORN_CMD_ARGS="--access-logfile -")
    beat = start_beat(settings, log_dir, PUNCTUAL_BEAT_METRICS_PORT=str(beat_port))
    running = System(api, base, f"http://127.0.0.1:{beat_port}/metrics", settings, log_dir, [api, beat])
    wait_for(lambda: _reachable(running.beat_metrics), timeout=30)
    try:
        yield running
    finally:
        for proc in running.procs:
            proc.stop()


def _reachable(url: str) -> bool:
    try:
        return requests.get(url, timeout=1).status_code == 200
    except requests.RequestException:
        return False


def value(text: str, name: str, **labels: str) -> float:
    """The sample `name{labels}` of a scrape (0 when absent)."""
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return float(sample.value)
    return 0.0


def _labels(text: str, name: str, label: str) -> set[str]:
    return {sample.labels[label] for family in text_string_to_metric_families(text) for sample in family.samples
            if sample.name == name}


def _trigger(system: System, tenant: Tenant, url: str) -> str:
    response = requests.post(f"{system.base}/v1/schedules", headers=tenant.headers, timeout=10, json={
        "name": "Metrics", "cron_expression": "0 9 * * MON", "destination": {"type": "webhook", "url": url},
        "run_mode": "once_distribute"})
    assert response.status_code == 201, response.text
    schedule_id = response.json()["id"]
    assert requests.post(f"{system.base}/v1/schedules/{schedule_id}/trigger", headers=tenant.headers,
                         timeout=10).status_code == 200
    return str(schedule_id)


def test_metrics_move_when_runs_happen(system: System, tenant: Tenant, http_sink: HttpSink) -> None:
    before, beat_before = system.scrape(), system.scrape_beat()
    assert value(before, "punctual_database_up") == 1 and value(before, "punctual_broker_up") == 1
    assert value(before, "punctual_runs_last_hour", status="complete") == 0
    assert value(before, "punctual_queue_depth", queue="runs") == 0

    # No worker yet: beat publishes the triggered run and the message waits in the runs queue.
    schedule_id = _trigger(system, tenant, f"{http_sink.url}/hook")
    # (The message reaches the queue a moment before beat commits the run as published.)
    waiting = wait_for(lambda: (t := system.scrape()) and value(t, "punctual_queue_depth", queue="runs") == 1
                       and value(t, "punctual_runs_last_hour", status="published") == 1 and t)
    assert value(waiting, "punctual_outbox_pending_runs") == 0
    beat_after = wait_for(lambda: (t := system.scrape_beat()) and value(t, "punctual_beat_runs_published_total") >= 1
                          and t)
    assert value(beat_after, "punctual_beat_runs_published_total") == value(
        beat_before, "punctual_beat_runs_published_total") + 1
    lag_count = value(beat_after, "punctual_beat_fire_lag_seconds_count", trigger="manual")
    assert lag_count == value(beat_before, "punctual_beat_fire_lag_seconds_count", trigger="manual") + 1
    # A manual run's slot is the moment it was triggered: beat published it well within a second.
    assert value(beat_after, "punctual_beat_fire_lag_seconds_bucket", trigger="manual", le="1.0") == lag_count
    assert value(beat_after, "punctual_beat_schedules_claimed_total") == 0  # a trigger claims no schedule

    system.procs.append(start_worker(system.settings, system.log_dir))
    after = wait_for(lambda: (t := system.scrape()) and value(t, "punctual_runs_last_hour", status="complete") == 1
                     and t, timeout=30)
    assert value(after, "punctual_deliveries_last_hour", status="delivered") == 1
    assert value(after, "punctual_queue_depth", queue="runs") == 0
    assert value(after, "punctual_beats_live") == 1
    assert 0 <= value(after, "punctual_beat_last_tick_age_seconds") < 10
    # Latency by route template, summed over gunicorn's workers: both POSTs were answered.
    for route, status in (("/v1/schedules", "2xx"), ("/v1/schedules/<id:schedule_id>/trigger", "2xx")):
        assert value(after, "punctual_api_request_duration_seconds_count", method="POST", route=route,
                     status_class=status) == 1, route
    # Never the raw path: no label carries the schedule's id.
    routes = _labels(after, "punctual_api_request_duration_seconds_count", "route")
    assert "/v1/schedules/<id:schedule_id>/trigger" in routes
    assert not any(schedule_id in route for route in routes)


def test_metrics_refuse_a_scrape_without_the_token(system: System) -> None:
    for headers in ({}, {"Authorization": "Bearer wrong-token-0123456789"}):
        response = requests.get(f"{system.base}/metrics", headers=headers, timeout=10)
        assert response.status_code == 401
        assert response.json()["status"] == 401


def test_promtool_accepts_the_api_and_beat_metrics(system: System, tenant: Tenant, http_sink: HttpSink) -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool is not installed (Debian: apt-get install prometheus)")
    _trigger(system, tenant, f"{http_sink.url}/hook")
    wait_for(lambda: value(system.scrape_beat(), "punctual_beat_runs_published_total") >= 1)
    for text in (system.scrape(), system.scrape_beat()):
        result = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, text=True,
                                timeout=30)
        assert result.returncode == 0, result.stdout + result.stderr
        assert "punctual_" in text


def test_api_and_gunicorn_log_json_events_without_query_strings(system: System) -> None:
    requests.get(f"{system.base}/v1/health?token=pk_secretsecretsecret", timeout=10)
    wait_for(lambda: "/v1/health" in system.api.output())
    events = [json.loads(line) for line in system.api.output().splitlines() if line.startswith("{")]
    assert events, system.api.output()[-2000:]
    assert {e["logger"] for e in events} >= {"gunicorn.error", "gunicorn.access"}
    [access] = [e for e in events if e["logger"] == "gunicorn.access" and e.get("http_path") == "/v1/health"][-1:]
    assert access["http_method"] == "GET" and access["http_status"] in (200, 503)
    assert "pk_secret" not in system.api.output()
