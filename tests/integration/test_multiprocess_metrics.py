"""A prefork worker's exporter sums its children's metrics, and their logs carry task and delivery ids."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from api.embedded import free_port
from shared.celery_app import RUNS_QUEUE, create_celery_app
from shared.settings import Settings
from tests.processes import BIN, Process, settings_env, wait_for

pytestmark = pytest.mark.broker


def _delivered(url: str) -> float:
    try:
        text = requests.get(url, timeout=2).text
    except requests.RequestException:
        return -1
    return sum(s.value for f in text_string_to_metric_families(text) for s in f.samples
               if s.name == "punctual_deliveries_total" and s.labels == {"kind": "webhook", "outcome": "delivered"})


def test_prefork_children_are_summed_by_the_worker_exporter(settings: Settings, log_dir: Path, clean: None) -> None:
    port = free_port()
    worker = Process("worker", [str(BIN / "celery"), "-A", "tests.prefork_metrics_app", "worker", "-Q", RUNS_QUEUE,
                                "-P", "prefork", "-c", "3", "--loglevel", "INFO", "--without-gossip",
                                "--without-mingle", "-n", f"metrics{port}@%h"],
                     settings_env(settings, PUNCTUAL_WORKER_METRICS_PORT=str(port)), log_dir)
    try:
        wait_for(lambda: "ready" in worker.output() or not worker.alive(), timeout=60)
        assert worker.alive(), worker.output()[-3000:]
        app = create_celery_app(settings)
        try:
            for n in range(12):
                app.send_task("tests.count_delivery", args=["webhook", f"d-{n}"], queue=RUNS_QUEUE)
        finally:
            app.close()
        url = f"http://127.0.0.1:{port}/metrics"
        wait_for(lambda: _delivered(url) == 12, timeout=30)
        events = [json.loads(line) for line in worker.output().splitlines() if line.startswith("{")]
        done = [e for e in events if e["logger"] == "punctual.worker"]
        assert len(done) == 12
        assert len({e["pid"] for e in done}) > 1, "one child did all the work; the sum was not exercised"
        assert {e["delivery_id"] for e in done} == {f"d-{n}" for n in range(12)}
        assert all(e["task"] == "tests.count_delivery" and e["task_id"] and e["run_id"] == "run-1" for e in done)
    finally:
        worker.stop()
