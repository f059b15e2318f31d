"""Delivery benchmark: webhook deliveries per second for one run with many recipients, and worker memory.

    .venv/bin/python bench/delivery_bench.py                 # 10,000 recipients, 1 and 2 worker processes
    .venv/bin/python bench/delivery_bench.py --recipients 2000 --threads 8

Creates a private PostgreSQL database (on DATABASE_URL, default the local server) and a private
redis-server, writes one per_subscriber webhook schedule with N subscribers straight into the
database, starts real `celery worker` processes (`-P threads -c T` on every queue, as a webhook
pool would run) and a local HTTP sink, fires one run the way beat does, and measures:
  deliveries/s   N / (time of the last delivered_at - time the run was published)
  run s          publish -> run status complete (chunks, artifacts, every delivery, the finish)
  peak RSS MiB   the largest resident memory of any one worker process, sampled every 100 ms
Prints one table.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import uuid
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import psycopg

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from shared.celery_app import RUNS_QUEUE, TASK_START_RUNS, create_celery_app  # noqa: E402
from shared.settings import Settings  # noqa: E402
from tests.processes import Process, start_worker, wait_for  # noqa: E402
from tests.servers import HttpSink  # noqa: E402
from tests.services import RedisServer, private_database, truncate_all  # noqa: E402


@dataclass
class Result:
    workers: int
    threads: int
    recipients: int
    delivered: int
    deliveries_per_s: float
    run_s: float
    peak_rss_mib: float


def rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def group_pids(pgid: int) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if os.getpgid(int(entry.name)) == pgid:
                    pids.append(int(entry.name))
            except OSError:
                continue
    return pids


class MemorySampler(threading.Thread):
    """Largest RSS of any single process of the workers' process groups, sampled until stopped."""

    def __init__(self, procs: list[Process]) -> None:
        super().__init__(daemon=True)
        self.procs = procs
        self.peak_kib = 0
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(0.1):
            for proc in self.procs:
                for pid in group_pids(proc.proc.pid):
                    self.peak_kib = max(self.peak_kib, rss_kib(pid))


def seed(url: str, sink_url: str, recipients: int) -> tuple[uuid.UUID, uuid.UUID]:
    with psycopg.connect(url) as conn:
        org = conn.execute("INSERT INTO organizations (name) VALUES ('Bench') RETURNING id").fetchone()[0]
        conn.execute(
            """INSERT INTO users (organization_id, email, name)
               SELECT %s, 'reader' || g || '@bench.test', 'Reader ' || g FROM generate_series(1, %s) g""",
            (org, recipients),
        )
        sid = conn.execute(
            """INSERT INTO schedules (organization_id, name, cron_expression, run_mode, destination_type,
                                      destination, retry_max_attempts)
               VALUES (%s, 'Bench', '0 9 * * MON', 'per_subscriber', 'webhook', %s, 3) RETURNING id""",
            (org, psycopg.types.json.Jsonb({"type": "webhook", "url": f"{sink_url}/hook"})),
        ).fetchone()[0]
        conn.execute(
            """INSERT INTO schedule_subscribers (schedule_id, user_id, organization_id)
               SELECT %s, id, organization_id FROM users WHERE organization_id = %s""",
            (sid, org),
        )
    return org, sid


def fire(url: str, settings: Settings, org: uuid.UUID, sid: uuid.UUID) -> uuid.UUID:
    with psycopg.connect(url) as conn:
        run_id = conn.execute(
            """INSERT INTO runs (organization_id, schedule_id, scheduled_for, trigger, status, published_at)
               VALUES (%s, %s, %s, 'manual', 'published', now()) RETURNING id""",
            (org, sid, datetime.now(UTC)),
        ).fetchone()[0]
    app = create_celery_app(settings)
    app.send_task(TASK_START_RUNS, args=[[str(run_id)]], queue=RUNS_QUEUE)
    app.close()
    return run_id


def measure(url: str, settings: Settings, redis_server: RedisServer, log_dir: Path, *, workers: int,
            threads: int, recipients: int) -> Result:
    truncate_all(url)
    redis_server.flush()
    sink = HttpSink().start()
    org, sid = seed(url, sink.url, recipients)
    procs = [start_worker(settings, log_dir, pool="threads", concurrency=threads,
                          PUNCTUAL_DB_POOL_MAX=str(threads + 2)) for _ in range(workers)]
    try:
        for proc in procs:
            wait_for(lambda p=proc: "ready" in p.output() or not p.alive(), timeout=60)
        sampler = MemorySampler(procs)
        sampler.start()
        run_id = fire(url, settings, org, sid)

        def status() -> tuple[str, datetime, datetime | None, datetime | None, int]:
            with psycopg.connect(url) as conn:
                row = conn.execute(
                    """SELECT r.status, r.published_at, r.finished_at,
                              (SELECT max(delivered_at) FROM deliveries WHERE run_id = r.id),
                              (SELECT count(*) FROM deliveries WHERE run_id = r.id AND status = 'delivered')
                       FROM runs r WHERE r.id = %s""", (run_id,)).fetchone()
            return row  # type: ignore[return-value]

        wait_for(lambda: status()[0] in ("complete", "error_delivered", "failed"), timeout=900, interval=0.5)
        sampler.stopped.set()
        sampler.join()
        state, published, finished, last_delivery, delivered = status()
        assert finished is not None and last_delivery is not None, state
        return Result(workers, threads, recipients, delivered,
                      delivered / (last_delivery - published).total_seconds(),
                      (finished - published).total_seconds(), sampler.peak_kib / 1024)
    finally:
        for proc in procs:
            proc.stop()
        sink.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipients", type=int, default=10_000)
    parser.add_argument("--threads", type=int, default=16, help="threads per worker process (-P threads -c T)")
    parser.add_argument("--workers", default="1,2", help="worker process counts to compare")
    args = parser.parse_args()
    log_dir = Path(os.environ.get("TMPDIR", "/tmp")) / f"delivery-bench-{os.getpid()}"
    log_dir.mkdir(parents=True, exist_ok=True)
    redis_server = RedisServer(log_dir / "redis")
    (log_dir / "redis").mkdir(exist_ok=True)
    redis_server.start()
    results: list[Result] = []
    try:
        with private_database() as url:
            settings = Settings(database_url=url, redis_url=redis_server.url, secret_key="bench-secret-key-0123456789",
                                outbound_allowlist=("127.0.0.1",))
            for count in (int(w) for w in args.workers.split(",")):
                results.append(measure(url, replace(settings), redis_server, log_dir, workers=count,
                                       threads=args.threads, recipients=args.recipients))
    finally:
        redis_server.stop()
    print(f"\nwebhook delivery, one per_subscriber run, {args.recipients} recipients, local HTTP sink, "
          f"{os.cpu_count()} CPUs")
    print(f"{'workers':>8} {'threads':>8} {'delivered':>10} {'deliveries/s':>13} {'run s':>8} {'peak RSS MiB':>13}")
    for r in results:
        print(f"{r.workers:>8} {r.threads:>8} {r.delivered:>10} {r.deliveries_per_s:>13.0f} {r.run_s:>8.1f} "
              f"{r.peak_rss_mib:>13.1f}")
    print(f"(worker logs in {log_dir})")


if __name__ == "__main__":
    main()
