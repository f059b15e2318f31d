"""`punctual status` against a real database with runs, deliveries, beats and failing schedules."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from psycopg_pool import ConnectionPool

from api.embedded import free_port
from shared.db import transaction
from shared.settings import Settings
from tests.conftest import Tenant
from tests.processes import BIN, settings_env


def _seed(pool: ConnectionPool, org: str) -> dict[str, str]:
    with transaction(pool) as conn:
        def schedule(name: str, **columns: object) -> str:
            names = "".join(f", {c}" for c in columns)
            marks = "".join(", %s" for _ in columns)
            row = conn.execute(f"""INSERT INTO schedules (organization_id, name, cron_expression, destination_type
                                                          {names})
                                   VALUES (%s, %s, '0 9 * * MON', 'webhook'{marks}) RETURNING id::text""",
                               (org, name, *columns.values())).fetchone()
            assert row is not None
            return str(row[0])

        healthy = schedule("Healthy")
        failing = schedule("Nightly export", consecutive_failures=3, last_status="failed")
        disabled = schedule("Broken feed", consecutive_failures=10, last_status="failed",
                            system_disabled_at="2024-05-01T10:00:00Z",
                            system_disabled_reason="10 consecutive failed runs")
        runs = conn.execute(
            """INSERT INTO runs (organization_id, schedule_id, scheduled_for, status, created_at)
               SELECT %s, %s, now() - g * interval '1 minute', s, now() - c
               FROM (VALUES (1, 'complete', interval '5 minutes'), (2, 'complete', interval '10 minutes'),
                            (3, 'failed', interval '20 minutes'), (4, 'complete', interval '2 hours'))
                    AS v(g, s, c)
               RETURNING id""", (org, healthy)).fetchall()
        conn.execute(
            """INSERT INTO deliveries (organization_id, run_id, schedule_id, recipient_key, destination_type, status)
               VALUES (%s, %s, %s, 'a', 'webhook', 'delivered'), (%s, %s, %s, 'b', 'webhook', 'delivered'),
                      (%s, %s, %s, 'c', 'webhook', 'failed')""",
            (org, runs[0][0], healthy, org, runs[1][0], healthy, org, runs[2][0], healthy))
        conn.execute("""INSERT INTO beat_heartbeats (beat_id, hostname, pid, runs_published, last_lag_s)
                        VALUES ('host-a:101:abcd', 'host-a', 101, 1234, 0.012)""")
        conn.execute("""INSERT INTO beat_heartbeats (beat_id, hostname, pid, last_tick_at)
                        VALUES ('host-b:202:dead', 'host-b', 202, now() - interval '2 hours')""")
    return {"healthy": healthy, "failing": failing, "disabled": disabled}


def _status(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN / "punctual"), "status"], env=env, capture_output=True, text=True, timeout=60)


def test_status_summarizes_beats_queues_recent_runs_and_failing_schedules(
        settings: Settings, pool: ConnectionPool, tenant: Tenant, tmp_path: Path) -> None:
    ids = _seed(pool, tenant.organization_id)
    # Found the way `make run` leaves them: URLs recorded in the data folder, nothing exported.
    (tmp_path / "services.json").write_text(json.dumps({
        "DATABASE_URL": settings.database_url, "REDIS_URL": settings.redis_url,
        "PUNCTUAL_SECRET_KEY": settings.secret_key}))
    env = {k: v for k, v in settings_env(settings).items() if k not in ("DATABASE_URL", "REDIS_URL", "BROKER_URL")}
    env["PUNCTUAL_DATA_DIR"] = str(tmp_path)
    if settings.broker_url != settings.redis_url:
        env["BROKER_URL"] = settings.broker_url

    result = _status(env)
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    first, *_ = out.splitlines()
    assert first.endswith(": ok")
    assert "host-a:101:abcd" in out and "live" in out and "1234 runs published" in out
    assert "host-b:202:dead" in out and "silent" in out
    runs = out.split("Runs in the last hour")[1].split("Deliveries in the last hour")[0]
    assert runs.split() == ["complete", "2", "failed", "1"]  # the run from two hours ago is not counted
    deliveries = out.split("Deliveries in the last hour")[1].split("Failing schedules")[0]
    assert deliveries.split() == ["delivered", "2", "failed", "1"]
    failing = out.split("Failing schedules")[1]
    lines = [line for line in failing.splitlines() if line.strip()]
    assert ids["disabled"] in lines[0] and "DISABLED 2024-05-01 10:00 UTC: 10 consecutive failed runs" in lines[0]
    assert ids["failing"] in lines[1] and "3 consecutive failures (last failed)" in lines[1]
    assert ids["healthy"] not in failing
    for queue in ("runs", "deliver.email", "deliver.webhook"):
        assert f"  {queue} " in out
    assert settings.secret_key not in out


def test_status_exits_1_naming_what_is_wrong(settings: Settings, pool: ConnectionPool, tenant: Tenant) -> None:
    _seed(pool, tenant.organization_id)
    with transaction(pool) as conn:
        conn.execute("DELETE FROM beat_heartbeats WHERE last_tick_at > now() - interval '1 hour'")
    closed = free_port()
    env = settings_env(settings, BROKER_URL=f"redis://127.0.0.1:{closed}/0")
    result = _status(env)
    assert result.returncode == 1, result.stdout + result.stderr
    first = result.stdout.splitlines()[0]
    assert "degraded: no beat ticked in the last 30s; broker unreachable" in first
    assert "unreachable: ConnectionError" in result.stdout
