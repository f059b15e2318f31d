"""SIGTERM to the API (gunicorn) drains: a request in flight completes with its answer, then gunicorn exits."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import psycopg
import requests
from psycopg_pool import ConnectionPool

from shared.settings import Settings
from tests.conftest import Tenant
from tests.processes import start_api, wait_for

WEBHOOK = {"type": "webhook", "url": "http://127.0.0.1:9/hook"}


def _blocked_api_queries(pool: ConnectionPool) -> int:
    with pool.connection() as conn:
        row = conn.execute("""SELECT count(*) FROM pg_stat_activity
                              WHERE application_name = 'punctual-api' AND wait_event_type = 'Lock'""").fetchone()
    assert row is not None
    return int(row[0])


def test_sigterm_lets_a_slow_request_finish_with_200(settings: Settings, log_dir: Path, tenant: Tenant,
                                                     pool: ConnectionPool) -> None:
    api, base = start_api(settings, log_dir)
    try:
        created = requests.post(f"{base}/v1/schedules", headers=tenant.headers, timeout=10, json={
            "name": "Before", "cron_expression": "0 9 * * MON", "destination": WEBHOOK})
        assert created.status_code == 201, created.text
        schedule_id = created.json()["id"]

        answers: list[requests.Response | BaseException] = []

        def rename() -> None:
            try:
                answers.append(requests.patch(f"{base}/v1/schedules/{schedule_id}", headers=tenant.headers,
                                              json={"name": "After"}, timeout=60))
            except BaseException as error:
                answers.append(error)

        # Hold the schedule's row: the PATCH blocks inside its transaction, a request truly in flight.
        with psycopg.connect(settings.database_url) as holder:
            holder.execute("SELECT 1 FROM schedules WHERE id = %s FOR UPDATE", (schedule_id,))
            client = threading.Thread(target=rename)
            client.start()
            wait_for(lambda: _blocked_api_queries(pool) >= 1, timeout=15, interval=0.05)

            os.killpg(api.proc.pid, signal.SIGTERM)
            # Longer than a short grace period would allow: the request waits, gunicorn waits for it.
            time.sleep(3.0)
            assert api.alive(), "gunicorn exited with a request in flight"
            holder.rollback()  # the row is free: the PATCH carries on

        client.join(timeout=30)
        [answer] = answers
        assert isinstance(answer, requests.Response), answer
        assert answer.status_code == 200, answer.text
        assert answer.json()["name"] == "After"
        assert api.proc.wait(timeout=20) == 0
    finally:
        api.stop()
    with pool.connection() as conn:
        assert conn.execute("SELECT name FROM schedules").fetchone() == ("After",)
