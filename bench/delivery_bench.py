"""Delivery benchmark: webhook deliveries per second with 1, 2 and 4 worker processes, beside a bare loop.

    .venv/bin/python bench/delivery_bench.py                       # 10,000 recipients; 1, 2, 4 workers; bare loop
    .venv/bin/python bench/delivery_bench.py --repeat 3            # each row three times, medians printed too
    .venv/bin/python bench/delivery_bench.py --only email          # emails to a local SMTP server

Creates a private PostgreSQL database (on DATABASE_URL, default the local server) and a private
redis-server, writes one per_subscriber webhook schedule with N subscribers straight into the
database, starts real `celery worker` processes (each on every queue, `-P threads`, as the
`deliver` pool runs; the run's chunks are produced by the same processes), fires one run the way
beat does, and measures:
  deliveries/s  N / (last delivered_at - the moment the run was published)
  run s         publish -> run status complete (chunks, artifacts, every delivery, the finish)
  peak RSS MiB  the largest resident memory of any one worker process, sampled every 100 ms
The bare loop posts the same number of bodies of the same size to the same sink with a plain
keep-alive client (http.client, in its own process): on one connection (the reference: one plain
client, as a script would post them) and on four connections in four threads (what the sink takes
from several clients at once). The webhook rows' medians are printed as a share of each. The
email rows send N fan_out messages to an aiosmtpd server in this process.
Prints one table (and the machine's load average before each row).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import textwrap
import threading
import uuid
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import psycopg
from psycopg.types.json import Jsonb

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from shared.celery_app import RUNS_QUEUE, TASK_START_RUNS, create_celery_app  # noqa: E402
from shared.settings import Settings  # noqa: E402
from tests.processes import Process, start_worker, wait_for  # noqa: E402
from tests.servers import HttpSink, SmtpSink  # noqa: E402
from tests.services import RedisServer, private_database, truncate_all  # noqa: E402

ALL_QUEUES = "runs,deliver.webhook,deliver.slack,deliver.email,deliver.sftp"
BODY_BYTES = 420  # about the size of a per-subscriber artifact here (the run described as JSON)


@dataclass
class Result:
    what: str
    workers: int
    recipients: int
    delivered: int
    per_s: float
    run_s: float
    peak_rss_mib: float
    load: float
    worker_ms: float = float("nan")  # CPU per delivery, milliseconds: the worker processes
    db_ms: float = float("nan")      # ... PostgreSQL backends of the workers
    sink_ms: float = float("nan")    # ... this process (the HTTP or SMTP sink, and the sampler)


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


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process (0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def backend_pids(url: str, application_name: str) -> list[int]:
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT pid FROM pg_stat_activity WHERE application_name = %s",
                            (application_name,)).fetchall()
    return [r[0] for r in rows]


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


def seed(url: str, destination: dict[str, object], recipients: int, *, run_mode: str,
         fan_out: bool = False) -> tuple[uuid.UUID, uuid.UUID]:
    with psycopg.connect(url) as conn:
        org = conn.execute("INSERT INTO organizations (name) VALUES ('Bench') RETURNING id").fetchone()[0]
        conn.execute(
            """INSERT INTO users (organization_id, email, name)
               SELECT %s, 'reader' || g || '@bench.test', 'Reader ' || g FROM generate_series(1, %s) g""",
            (org, recipients),
        )
        sid = conn.execute(
            """INSERT INTO schedules (organization_id, name, cron_expression, run_mode, fan_out, destination_type,
                                      destination, retry_max_attempts)
               VALUES (%s, 'Bench', '0 9 * * MON', %s, %s, %s, %s, 3) RETURNING id""",
            (org, run_mode, fan_out, destination["type"], Jsonb(destination)),
        ).fetchone()[0]
        conn.execute(
            """INSERT INTO schedule_subscribers (schedule_id, user_id, organization_id)
               SELECT %s, id, organization_id FROM users WHERE organization_id = %s""",
            (sid, org),
        )
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
    return org, sid


def fire(url: str, settings: Settings, org: uuid.UUID, sid: uuid.UUID) -> uuid.UUID:
    with psycopg.connect(url) as conn:
        run_id = conn.execute(
            """INSERT INTO runs (organization_id, schedule_id, scheduled_for, trigger, status, published_at)
               VALUES (%s, %s, %s, 'manual', 'published', clock_timestamp()) RETURNING id""",
            (org, sid, datetime.now(UTC)),
        ).fetchone()[0]
    app = create_celery_app(settings)
    app.send_task(TASK_START_RUNS, args=[[str(run_id)]], queue=RUNS_QUEUE)
    app.close()
    return run_id


def run_status(url: str, run_id: uuid.UUID) -> tuple[str, datetime, datetime | None, datetime | None, int]:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            """SELECT r.status, r.published_at, r.finished_at,
                      (SELECT max(delivered_at) FROM deliveries WHERE run_id = r.id),
                      (SELECT count(*) FROM deliveries WHERE run_id = r.id AND status = 'delivered')
               FROM runs r WHERE r.id = %s""", (run_id,)).fetchone()
    return row  # type: ignore[no-any-return]


def measure(url: str, settings: Settings, redis_server: RedisServer, log_dir: Path, *, what: str, workers: int,
            threads: int, recipients: int, env: dict[str, str] | None = None) -> Result:
    truncate_all(url)
    redis_server.flush()
    load = os.getloadavg()[0]
    sink: HttpSink | SmtpSink
    if what == "email":
        sink = SmtpSink().start()
        org, sid = seed(url, {"type": "email"}, recipients, run_mode="once_distribute", fan_out=True)
        extra = {"PUNCTUAL_SMTP_PORT": str(sink.port)}
    else:
        sink = HttpSink().start()
        org, sid = seed(url, {"type": "webhook", "url": f"{sink.url}/hook"}, recipients, run_mode="per_subscriber")
        extra = {}
    procs = [start_worker(settings, log_dir, queues=ALL_QUEUES, pool="threads", concurrency=threads,
                          PUNCTUAL_DB_POOL_MAX=str(threads + 4), **extra, **(env or {})) for _ in range(workers)]
    try:
        for proc in procs:
            wait_for(lambda p=proc: "ready" in p.output() or not p.alive(), timeout=60)
        sampler = MemorySampler(procs)
        sampler.start()
        worker_pids = [pid for proc in procs for pid in group_pids(proc.proc.pid)]
        cpu_before = {pid: cpu_s(pid) for pid in worker_pids}
        sink_before = cpu_s(os.getpid())
        run_id = fire(url, settings, org, sid)
        wait_for(lambda: run_status(url, run_id)[0] in ("complete", "error_delivered", "failed"), timeout=900,
                 interval=0.2)
        # Backends are opened as the pools grow during the run: their CPU is all this run's.
        db_cpu = sum(cpu_s(pid) for pid in backend_pids(url, "punctual-worker"))
        worker_cpu = sum(cpu_s(pid) - before for pid, before in cpu_before.items())
        sink_cpu = cpu_s(os.getpid()) - sink_before
        sampler.stopped.set()
        sampler.join()
        state, published, finished, last_delivery, delivered = run_status(url, run_id)
        assert finished is not None and last_delivery is not None, state
        return Result(what, workers, recipients, delivered, delivered / (last_delivery - published).total_seconds(),
                      (finished - published).total_seconds(), sampler.peak_kib / 1024, load,
                      worker_cpu / delivered * 1000, db_cpu / delivered * 1000, sink_cpu / delivered * 1000)
    finally:
        for proc in procs:
            proc.stop()
        sink.stop()


BARE_LOOP = textwrap.dedent("""
    import http.client, sys, threading, time
    host, (port, count, threads, size) = sys.argv[1], map(int, sys.argv[2:6])
    body = b"x" * size
    def post(n):
        conn = http.client.HTTPConnection(host, port)
        for _ in range(n):
            conn.request("POST", "/hook", body=body, headers={"Content-Type": "application/json"})
            answer = conn.getresponse()
            answer.read()
    started = time.monotonic()
    workers = [threading.Thread(target=post, args=(count // threads,)) for _ in range(threads)]
    for w in workers: w.start()
    for w in workers: w.join()
    print(count / (time.monotonic() - started))
""")


def bare_loop(recipients: int, threads: int) -> Result:
    """The plain keep-alive client against the same sink, in a process of its own (it then has a core to itself)."""
    load = os.getloadavg()[0]
    sink = HttpSink().start()
    try:
        assert sink.server is not None
        out = subprocess.run([sys.executable, "-c", BARE_LOOP, "127.0.0.1", str(sink.server.server_address[1]),
                              str(recipients), str(threads), str(BODY_BYTES)],
                             check=True, capture_output=True, text=True).stdout
    finally:
        sink.stop()
    return Result(f"bare loop, {threads} conn", 0, recipients, recipients, float(out.strip()), float("nan"),
                  float("nan"), load)


def print_table(results: list[Result]) -> None:
    print(f"\n{os.cpu_count()} CPUs; webhook rows: one per_subscriber run, local HTTP sink (HTTP/1.1 keep-alive); "
          "email rows: one fan_out run, local aiosmtpd")
    print(f"{'what':<18} {'workers':>7} {'recipients':>10} {'delivered':>9} {'per s':>7} {'run s':>6} "
          f"{'peak RSS MiB':>12} {'load':>5}   CPU ms/delivery: {'worker':>6} {'db':>5} {'sink':>5}")
    for r in results:
        workers = str(r.workers) if r.workers else "-"
        print(f"{r.what:<18} {workers:>7} {r.recipients:>10} {r.delivered:>9} {r.per_s:>7.0f} {r.run_s:>6.1f} "
              f"{r.peak_rss_mib:>12.1f} {r.load:>5.1f}   {'':>16} {r.worker_ms:>6.2f} {r.db_ms:>5.2f} "
              f"{r.sink_ms:>5.2f}")
    groups: dict[tuple[str, int, int], list[Result]] = {}
    for r in results:
        groups.setdefault((r.what, r.workers, r.recipients), []).append(r)
    if any(len(g) > 1 for g in groups.values()):
        print("\nmedians")
        for (what, workers, recipients), rows in groups.items():
            print(f"{what:<18} {workers or '-':>7} {recipients:>10} {'':>9} "
                  f"{statistics.median(r.per_s for r in rows):>7.0f} {statistics.median(r.run_s for r in rows):>6.1f}"
                  f" {statistics.median(r.peak_rss_mib for r in rows):>12.1f}   (n={len(rows)})")
    loops = {what: statistics.median(r.per_s for r in rows) for (what, _, _), rows in groups.items()
             if what.startswith("bare loop")}
    if loops:
        print("\nwebhook rows against the bare loops (medians)")
        for (what, workers, recipients), rows in groups.items():
            if what == "webhook":
                rate = statistics.median(r.per_s for r in rows)
                shares = "; ".join(f"{100 * rate / loop:.0f}% of the {name}" for name, loop in loops.items())
                print(f"  {workers} workers, {recipients} recipients: {rate:.0f}/s = {shares}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipients", type=int, default=10_000)
    parser.add_argument("--rss-recipients", type=int, default=2_000,
                        help="a smaller run with 2 workers, to show RSS does not grow with recipients (0: skip)")
    parser.add_argument("--threads", type=int, default=4,
                        help="tasks in flight per worker process (-P threads -c T: PUNCTUAL_DELIVER_THREADS)")
    parser.add_argument("--workers", default="1,2,4", help="worker process counts to compare")
    parser.add_argument("--emails", type=int, default=3_000, help="recipients of the email rows")
    parser.add_argument("--only", default="webhook,bare,email", help="comma-separated: webhook,bare,email")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE",
                        help="a setting for the workers (repeatable), e.g. PUNCTUAL_DELIVERIES_PER_MESSAGE=200")
    args = parser.parse_args()
    env = dict(setting.split("=", 1) for setting in args.env)
    only = set(args.only.split(","))
    log_dir = Path(os.environ.get("TMPDIR", "/tmp")) / f"delivery-bench-{os.getpid()}"
    (log_dir / "redis").mkdir(parents=True, exist_ok=True)
    redis_server = RedisServer(log_dir / "redis")
    redis_server.start()
    results: list[Result] = []

    def show(result: Result) -> None:
        results.append(result)
        print(f"  {result.what} workers={result.workers} recipients={result.recipients}: {result.per_s:.0f}/s, "
              f"run {result.run_s:.1f} s, peak RSS {result.peak_rss_mib:.1f} MiB, load {result.load:.1f}", flush=True)

    try:
        with private_database() as url:
            settings = Settings(database_url=url, redis_url=redis_server.url, secret_key="bench-secret-key-0123456789",
                                outbound_allowlist=("127.0.0.1",))
            for _ in range(args.repeat):
                if "bare" in only:
                    for threads in (1, 4):
                        show(bare_loop(args.recipients, threads))
                if "webhook" in only:
                    for count in (int(w) for w in args.workers.split(",")):
                        show(measure(url, replace(settings), redis_server, log_dir, what="webhook", workers=count,
                                     threads=args.threads, recipients=args.recipients, env=env))
                    if args.rss_recipients:
                        show(measure(url, replace(settings), redis_server, log_dir, what="webhook", workers=2,
                                     threads=args.threads, recipients=args.rss_recipients, env=env))
                if "email" in only:
                    show(measure(url, replace(settings), redis_server, log_dir, what="email", workers=2,
                                 threads=args.threads, recipients=args.emails, env=env))
    finally:
        redis_server.stop()
    print_table(results)
    print(f"(worker logs in {log_dir})")


if __name__ == "__main__":
    main()
