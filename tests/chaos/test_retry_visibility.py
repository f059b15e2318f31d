"""A retry that waits longer than the broker's visibility timeout is attempted once, not once per redelivery."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable

from tests.chaos.conftest import DELIVER_QUEUES, StartWorker
from tests.integration.workers.conftest import World
from tests.processes import Process
from tests.servers import HttpSink, ReceivedRequest

VISIBILITY_S = 2
RETRY_DELAY_S = 8  # four visibility timeouts: a message held that long would come back several times
RECIPIENTS = 20


def _busy_once() -> Callable[[ReceivedRequest, int], tuple[int, dict[str, str], bytes]]:
    """Refuse the first request of each webhook-id with a Retry-After; accept every later one."""
    seen: set[str] = set()
    lock = threading.Lock()

    def answer(request: ReceivedRequest, index: int) -> tuple[int, dict[str, str], bytes]:
        key = request.headers["webhook-id"]
        with lock:
            first = key not in seen
            seen.add(key)
        if first:
            return 429, {"Retry-After": str(RETRY_DELAY_S)}, b"slow down"
        return 200, {"Content-Type": "application/json"}, b"{}"

    return answer


def test_retry_delay_longer_than_visibility_timeout_runs_exactly_once(
        start: StartWorker, chaos_world: Callable[[Process], World], http_sink: HttpSink) -> None:
    http_sink.responder = _busy_once()
    env = {"PUNCTUAL_BROKER_VISIBILITY_TIMEOUT": str(VISIBILITY_S), "PUNCTUAL_RETRY_SWEEP_INTERVAL": "1"}
    runs_worker = start("runs", **env)
    start(DELIVER_QUEUES, **env)
    start(DELIVER_QUEUES, **env)  # a second consumer that a message coming back could reach
    world = chaos_world(runs_worker)
    sid = world.schedule({"type": "webhook", "url": f"{http_sink.url}/busy"}, run_mode="per_subscriber",
                         subscribers=world.users(RECIPIENTS), retry_max_attempts=5,
                         retry_base_delay_s=RETRY_DELAY_S, retry_max_delay_s=RETRY_DELAY_S)
    run_id = world.fire(sid)

    run = world.wait_run(run_id, timeout=60)
    # Longer than a visibility timeout plus kombu's restore interval (5 s): a copy would be back by now.
    time.sleep(VISIBILITY_S + 6)

    assert run["status"] == "complete"
    deliveries = world.deliveries(run_id)
    assert [d["status"] for d in deliveries] == ["delivered"] * RECIPIENTS
    for delivery in deliveries:
        attempts = world.attempts(delivery["id"])
        assert [(a["outcome"], a["response_code"]) for a in attempts] == [("retry", 429), ("delivered", 200)]
        waited = (attempts[1]["started_at"] - attempts[0]["started_at"]).total_seconds()
        assert waited >= RETRY_DELAY_S > VISIBILITY_S
    assert world.one("SELECT count(*) AS n FROM delivery_attempts")["n"] == 2 * RECIPIENTS
    by_key = Counter(r.headers["webhook-id"] for r in http_sink.requests)
    assert len(by_key) == RECIPIENTS and set(by_key.values()) == {2}  # one refused, one delivered, no third
