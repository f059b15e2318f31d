"""The real worker's Prometheus exporter: what deliveries and runs did shows in its counters."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from api.embedded import free_port
from shared.settings import Settings
from tests.integration.workers.conftest import World
from tests.processes import Process, start_worker, wait_for
from tests.servers import HttpSink, ReceivedRequest, SmtpSink

PORT = free_port()


@pytest.fixture(scope="module")
def worker(base_settings: Settings, database_url: str, smtp_sink: SmtpSink,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[Process]:
    from tests.services import truncate_all

    truncate_all(database_url)
    proc = start_worker(base_settings, tmp_path_factory.mktemp("metrics-logs"), concurrency=2,
                        PUNCTUAL_RETRY_SWEEP_INTERVAL="0.2", PUNCTUAL_WORKER_METRICS_PORT=str(PORT))
    wait_for(lambda: "ready" in proc.output() or not proc.alive(), timeout=60)
    assert proc.alive(), proc.output()
    yield proc
    proc.stop()


def _samples() -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = requests.get(f"http://127.0.0.1:{PORT}/metrics", timeout=5).text
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def _value(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_attempts_retries_deliveries_and_runs_move_when_runs_happen(world: World, http_sink: HttpSink) -> None:
    def flaky(request: ReceivedRequest, index: int) -> tuple[int, dict[str, str], bytes]:
        return (503, {}, b"busy") if index == 0 else (200, {}, b"{}")

    before = _samples()
    http_sink.responder = flaky
    sid = world.schedule({"type": "webhook", "url": f"{http_sink.url}/m"}, run_mode="per_subscriber",
                         subscribers=world.users(5, prefix="metric"))
    run = world.wait_run(world.fire(sid), timeout=30)
    assert run["status"] == "complete"

    def moved() -> dict[tuple[str, tuple[tuple[str, str], ...]], float] | None:
        after = _samples()
        done = _value(after, "punctual_deliveries_total", kind="webhook", outcome="delivered")
        return after if done - _value(before, "punctual_deliveries_total", kind="webhook",
                                      outcome="delivered") >= 5 else None

    after = wait_for(moved, timeout=10)

    def delta(name: str, **labels: str) -> float:
        return _value(after, name, **labels) - _value(before, name, **labels)

    # Five subscribers, the first POST answered 503: six attempts, one retry, five delivered, one run.
    assert delta("punctual_delivery_attempts_total", kind="webhook", outcome="delivered") == 5
    assert delta("punctual_delivery_attempts_total", kind="webhook", outcome="retry") == 1
    assert delta("punctual_delivery_retries_total", kind="webhook") == 1
    assert delta("punctual_deliveries_total", kind="webhook", outcome="delivered") == 5
    assert delta("punctual_delivery_duration_seconds_count", kind="webhook", outcome="delivered") == 5
    assert delta("punctual_runs_finished_total", status="complete") == 1
