"""Campaign benchmark: a campaign to a 10,000-member contact list, from its slot to sent, through beat and workers.

    .venv/bin/python bench/campaign_bench.py                      # 10,000 members, 2 worker processes
    .venv/bin/python bench/campaign_bench.py --members 2000,10000 --workers 1,2 --repeat 2

Creates a private PostgreSQL database (on DATABASE_URL, default the local server) and a private
redis-server, seeds N users in one contact list, starts a real beat and real `celery worker`
processes (each on every queue, `-P threads`, as the `deliver` pool runs), an aiosmtpd server in
this process, then creates the campaign and schedules it through the API's own service functions
on a shortened slot grid (PUNCTUAL_SEND_SLOT_SECONDS, PUNCTUAL_SEND_MIN_LEAD_SECONDS for every
process), and measures from the slot:
  published s   slot -> beat published the send's run (the campaign became sending)
  sent s        slot -> the run finished, every delivery ended (the campaign became sent)
  emails/s      members / (sent - published)
  received      messages the SMTP server accepted (one per member expected)
Prints one table (and the machine's load average before each row).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import uuid
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import psycopg

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from api.services import campaigns as campaign_service  # noqa: E402
from shared.cron import SlotRules  # noqa: E402
from shared.db import create_pool, transaction  # noqa: E402
from shared.settings import Settings  # noqa: E402
from shared.statuses import CampaignStatus  # noqa: E402
from tests.processes import Process, start_beat, start_worker, wait_for  # noqa: E402
from tests.servers import SmtpSink  # noqa: E402
from tests.services import RedisServer, private_database, truncate_all  # noqa: E402

ALL_QUEUES = "runs,deliver.webhook,deliver.slack,deliver.email,deliver.sftp"
GRID_S = 5
LEAD_S = 3


@dataclass
class Result:
    members: int
    workers: int
    received: int
    published_s: float
    sent_s: float
    per_s: float
    load: float


def seed(url: str, members: int) -> tuple[uuid.UUID, uuid.UUID]:
    with psycopg.connect(url) as conn:
        org = conn.execute("INSERT INTO organizations (name) VALUES ('Bench') RETURNING id").fetchone()[0]
        conn.execute(
            """INSERT INTO users (organization_id, kind, email, name)
               SELECT %s, 'email_only', 'member' || g || '@bench.test', 'Member ' || g FROM generate_series(1, %s) g""",
            (org, members),
        )
        segment = conn.execute("INSERT INTO contact_lists (organization_id, name) VALUES (%s, 'Everyone') "
                               "RETURNING id", (org,)).fetchone()[0]
        conn.execute(
            """INSERT INTO contact_list_members (contact_list_id, user_id, organization_id)
               SELECT %s, id, organization_id FROM users WHERE organization_id = %s""", (segment, org))
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
    return org, segment


def next_slot() -> datetime:
    now = time.time() + LEAD_S + 1
    return datetime.fromtimestamp((int(now) // GRID_S + 1) * GRID_S, UTC)


def measure(url: str, settings: Settings, redis_server: RedisServer, log_dir: Path, *, members: int, workers: int,
            threads: int) -> Result:
    truncate_all(url)
    redis_server.flush()
    org, segment = seed(url, members)
    sink = SmtpSink().start()
    env = {"PUNCTUAL_SEND_SLOT_SECONDS": str(GRID_S), "PUNCTUAL_SEND_MIN_LEAD_SECONDS": str(LEAD_S),
           "PUNCTUAL_SMTP_PORT": str(sink.port)}
    procs: list[Process] = [start_worker(settings, log_dir, queues=ALL_QUEUES, pool="threads", concurrency=threads,
                                         PUNCTUAL_DB_POOL_MAX=str(threads + 4), **env) for _ in range(workers)]
    procs.append(start_beat(settings, log_dir, **env))
    pool = create_pool(settings, min_size=1, max_size=2, name="campaign-bench")
    try:
        for proc in procs[:-1]:
            wait_for(lambda p=proc: "ready" in p.output() or not p.alive(), timeout=60)
        load = os.getloadavg()[0]
        with transaction(pool) as conn:
            campaign = campaign_service.create_campaign(conn, org, {
                "name": "Spring", "description": "", "segment_id": segment,
                "content": {"subject": "Spring sale", "text": "Everything is 20% off this week."}}, None)
        slot = next_slot()
        with transaction(pool) as conn:
            campaign_service.schedule_campaign(conn, settings, org, campaign.id, slot.isoformat(), datetime.now(UTC))

        def sent() -> campaign_service.CampaignView | None:
            with transaction(pool) as conn:
                view = campaign_service.load_campaign(conn, org, campaign.id)
            return view if view.status is CampaignStatus.SENT else None

        done = wait_for(sent, timeout=1800, interval=0.2)
        assert done.published_at is not None and done.sent_at is not None
        received = sum(len(m.rcpt_tos) for m in sink.messages)
        return Result(members, workers, received, (done.published_at - slot).total_seconds(),
                      (done.sent_at - slot).total_seconds(),
                      members / (done.sent_at - done.published_at).total_seconds(), load)
    finally:
        pool.close()
        for proc in procs:
            proc.stop()
        sink.stop()


def print_table(results: list[Result], threads: int) -> None:
    print(f"\n{os.cpu_count()} CPUs; one campaign, one email per member (fan_out) to a local aiosmtpd; "
          f"workers on every queue, -P threads -c {threads}; beat on a {GRID_S}-second slot grid")
    print(f"{'members':>8} {'workers':>7} {'received':>8} {'published s':>11} {'sent s':>7} {'emails/s':>8} "
          f"{'load':>5}")
    for r in results:
        print(f"{r.members:>8} {r.workers:>7} {r.received:>8} {r.published_s:>11.2f} {r.sent_s:>7.1f} "
              f"{r.per_s:>8.0f} {r.load:>5.1f}")
    groups: dict[tuple[int, int], list[Result]] = {}
    for r in results:
        groups.setdefault((r.members, r.workers), []).append(r)
    if any(len(g) > 1 for g in groups.values()):
        print("\nmedians")
        for (members, workers), rows in groups.items():
            print(f"{members:>8} {workers:>7} {'':>8} {statistics.median(r.published_s for r in rows):>11.2f} "
                  f"{statistics.median(r.sent_s for r in rows):>7.1f} "
                  f"{statistics.median(r.per_s for r in rows):>8.0f}   (n={len(rows)})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", default="10000", help="comma-separated list sizes")
    parser.add_argument("--workers", default="2", help="comma-separated worker process counts")
    parser.add_argument("--threads", type=int, default=8, help="tasks in flight per worker process (-P threads -c T)")
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    log_dir = Path(os.environ.get("TMPDIR", "/tmp")) / f"campaign-bench-{os.getpid()}"
    (log_dir / "redis").mkdir(parents=True, exist_ok=True)
    redis_server = RedisServer(log_dir / "redis")
    redis_server.start()
    results: list[Result] = []
    try:
        with private_database() as url:
            settings = Settings(database_url=url, redis_url=redis_server.url, secret_key="bench-secret-key-0123456789",
                                outbound_allowlist=("127.0.0.1",), beat_max_sleep_s=1.0,
                                send_slots=SlotRules(grid_s=GRID_S, lead_s=LEAD_S))
            for _ in range(args.repeat):
                for members in (int(m) for m in args.members.split(",")):
                    for workers in (int(w) for w in args.workers.split(",")):
                        result = measure(url, replace(settings), redis_server, log_dir, members=members,
                                         workers=workers, threads=args.threads)
                        results.append(result)
                        print(f"  {members} members, {workers} workers: sent {result.sent_s:.1f} s after the slot, "
                              f"{result.per_s:.0f} emails/s, {result.received} received", flush=True)
    finally:
        redis_server.stop()
    print_table(results, args.threads)
    print(f"(logs in {log_dir})")


if __name__ == "__main__":
    main()
