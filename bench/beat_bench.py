"""Beat benchmark: Punctual's beat against celery-redbeat and django-celery-beat, on this machine.

    .venv/bin/python bench/beat_bench.py --quick      # 10k burst, idle 10k vs 100k, no peers
    .venv/bin/python bench/beat_bench.py              # everything (1M rows; peers; e2e)

Creates a private PostgreSQL database (on DATABASE_URL, default the local server) and a private
redis-server, writes schedules straight into the database (generate_series), runs a real
`celery beat` per scenario and measures:
  burst  N schedules due in the same second: runs published per second (N / last publish after
         the slot) and fire lag = publish time - slot, p50/p99/max. Punctual's publish time is
         runs.published_at (set once the message carrying the run is in Redis); a peer's is when
         its message shows up in the Redis queue (LLEN polled every 20 ms).
  idle   N enabled schedules, none due: beat CPU-seconds per minute (/proc/<pid>/stat, beat
         process plus its PostgreSQL backends) and resident memory.
  steady N hourly schedules spread over the 60 minutes: every minute N/60 come due at once.
  e2e    a burst with the runs pool (prefork, 2 processes): slot to runs.started_at (the claim).
  e2e delivered  a burst of once_distribute webhook runs with the production pools, a `runs`
         worker (prefork, 2 processes) and a `deliver` worker (threads, 4), to a local HTTP sink: slot
         to runs.finished_at (delivered and recorded) for every run.
Peers run from their own virtualenv under .data/bench-peers (created with pip when missing).
Prints one table.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import redis
from psycopg.conninfo import conninfo_to_dict

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from api.embedded import start_redis  # noqa: E402
from tests.servers import HttpSink  # noqa: E402
from tests.services import private_database  # noqa: E402

PEERS_DIR = REPO / ".data" / "bench-peers"
PEERS_VENV = PEERS_DIR / "venv"
PEER_REQUIREMENTS = ["celery[redis]>=5.4,<6", "celery-redbeat>=2.2,<3", "django-celery-beat>=2.7,<3",
                     "psycopg[binary]>=3.1,<4"]
BIN = Path(sys.executable).parent
CLK_TCK = os.sysconf("SC_CLK_TCK")
ZONES = ("UTC", "Europe/London", "America/New_York", "Asia/Tokyo")


@dataclass
class Row:
    system: str
    scenario: str
    schedules: int
    runs: str = ""
    seconds: str = ""
    rate: str = ""
    p50: str = ""
    p99: str = ""
    max: str = ""
    cpu: str = ""
    rss: str = ""
    note: str = ""


@dataclass
class Context:
    admin_url: str
    url: str
    redis_url: str
    tmp: Path
    args: argparse.Namespace
    redis_pid: int = 0
    rows: list[Row] = field(default_factory=list)


# ---------------------------------------------------------------- processes and measurements

class Proc:
    """A child process (its own session, output to a log file) stopped by PID."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path, cwd: Path = REPO) -> None:
        self.log = log
        self.handle = open(log, "wb")
        self.popen = subprocess.Popen(args, env=env, cwd=cwd, stdout=self.handle, stderr=subprocess.STDOUT,
                                      start_new_session=True)

    def stop(self) -> None:
        if self.popen.poll() is None:
            os.killpg(self.popen.pid, signal.SIGTERM)
            try:
                self.popen.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait(timeout=10)
        self.handle.close()


class QueueWatcher(threading.Thread):
    """Pop every message off a Redis queue as it arrives; record when, and how many runs it names.

    The same clock for every system: a run counts as published when the message naming it is
    in Redis (popped within milliseconds of its arrival). Punctual's messages name many runs.
    """

    def __init__(self, redis_url: str, queue: str) -> None:
        super().__init__(daemon=True)
        self.client = redis.Redis.from_url(redis_url)
        self.queue = queue
        self.arrivals: list[tuple[float, int]] = []
        self.total = 0
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.is_set():
            item = self.client.brpop([self.queue], timeout=0.2)
            if item is None:
                continue
            now = time.time()
            message = json.loads(item[1])  # type: ignore[index]
            body = message["body"]
            if message.get("properties", {}).get("body_encoding") == "base64":
                body = base64.b64decode(body)
            args = json.loads(body)[0]
            runs = len(args[0]) if args and isinstance(args[0], list) else 1
            self.arrivals.append((now, runs))
            self.total += runs

    def wait_for(self, count: int, timeout: float, alive: Callable[[], bool]) -> bool:
        deadline = time.time() + timeout
        while time.time() < deadline and self.total < count and alive():
            time.sleep(0.05)
        return self.total >= count

    def stop(self) -> None:
        self.stopping.set()
        self.join(timeout=5)
        self.client.close()

    def lags(self, slot: float) -> list[float]:
        return [t - slot for t, n in self.arrivals for _ in range(n)]


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def rss_mb(pid: int, key: str = "VmRSS") -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024
    return 0.0


def backend_pids(ctx: Context, application_name: str) -> list[int]:
    with psycopg.connect(ctx.url, autocommit=True) as conn:
        rows = conn.execute("SELECT pid FROM pg_stat_activity WHERE application_name = %s", (application_name,))
        return [r[0] for r in rows]


def cpu_by_pid(pids: list[int]) -> dict[int, float]:
    found = {}
    for pid in pids:
        try:
            found[pid] = cpu_seconds(pid)
        except OSError:
            pass  # a backend that has exited
    return found


def total_cpu(pids: list[int]) -> float:
    return sum(cpu_by_pid(pids).values())


def process_tree(pid: int) -> list[int]:
    """A process and its descendants (a prefork worker's children), from /proc."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        try:
            for task in os.listdir(f"/proc/{current}/task"):
                with open(f"/proc/{current}/task/{task}/children") as f:
                    todo += [int(child) for child in f.read().split()]
        except OSError:
            pass  # exited meanwhile
    return found


def database_backends(ctx: Context) -> list[int]:
    with psycopg.connect(ctx.url, autocommit=True) as conn:
        rows = conn.execute("SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                            "AND pid <> pg_backend_pid()")
        return [r[0] for r in rows]


def cpu_used(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU seconds used between two samples by the processes present in both."""
    return sum(after[pid] - before[pid] for pid in before if pid in after)


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def fmt(value: float, digits: int = 2) -> str:
    return f"{value:.{digits}f}"


# ---------------------------------------------------------------- database and redis

def reset(ctx: Context) -> None:
    with psycopg.connect(ctx.url, autocommit=True) as conn:
        conn.execute("TRUNCATE runs, schedules, beat_heartbeats CASCADE")
        conn.execute("VACUUM ANALYZE schedules")
    client = redis.Redis.from_url(ctx.redis_url)
    client.flushall()
    client.close()


def insert_schedules(ctx: Context, count: int, next_run_at: str, cron: str,
                     url: str = "http://127.0.0.1:9/bench") -> None:
    """Insert `count` schedules (g = 1..count in the SQL expressions) in one statement."""
    zones = "(ARRAY[" + ",".join(f"'{z}'" for z in ZONES) + "])[1 + g %% 4]"
    # The SQL fragments use % (modulo); psycopg wants it doubled next to its placeholders.
    next_run_at, cron = next_run_at.replace("%", "%%"), cron.replace("%", "%%")
    with psycopg.connect(ctx.url) as conn:
        org = conn.execute("INSERT INTO organizations (name) VALUES ('bench') RETURNING id").fetchone()
        assert org is not None
        conn.execute(
            f"""INSERT INTO schedules (organization_id, name, cron_expression, timezone, destination_type,
                                       destination, run_mode, next_run_at)
                SELECT %s, 'bench ' || g, {cron}, {zones}, 'webhook',
                       jsonb_build_object('type', 'webhook', 'url', %s::text), 'once_distribute', {next_run_at}
                FROM generate_series(1, %s) AS g""",  # type: ignore[arg-type]
            (org[0], url, count))
    with psycopg.connect(ctx.url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE schedules")


def db_now(ctx: Context) -> datetime:
    with psycopg.connect(ctx.url) as conn:
        row = conn.execute("SELECT now()").fetchone()
    assert row is not None
    return row[0]


def sql_value(ctx: Context, sql: str, params: tuple[object, ...] = ()) -> object:
    with psycopg.connect(ctx.url) as conn:
        row = conn.execute(sql, params).fetchone()  # type: ignore[arg-type]
    assert row is not None
    return row[0]


# ---------------------------------------------------------------- Punctual

def punctual_env(ctx: Context, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PUNCTUAL_", "CELERY"))}
    env.update(DATABASE_URL=ctx.url, REDIS_URL=ctx.redis_url, PUNCTUAL_SECRET_KEY="bench-secret-key-0123456789",
               PUNCTUAL_DATA_DIR=str(ctx.tmp / "none"), PUNCTUAL_BEAT_MAX_SLEEP="5", PYTHONUNBUFFERED="1")
    if ctx.args.batch:
        env["PUNCTUAL_BEAT_BATCH_SIZE"] = str(ctx.args.batch)
    if ctx.args.publish_batch:
        env["PUNCTUAL_BEAT_PUBLISH_BATCH"] = str(ctx.args.publish_batch)
    env.update(setting.split("=", 1) for setting in ctx.args.env)
    env.update(extra)
    return env


def start_punctual_beat(ctx: Context) -> Proc:
    before = int(sql_value(ctx, "SELECT count(*) FROM beat_heartbeats"))  # type: ignore[call-overload]
    proc = Proc([str(BIN / "celery"), "-A", "beat.app", "beat", "-S", "beat.scheduler:PunctualScheduler",
                 "--loglevel", "INFO", "--schedule", str(ctx.tmp / f"beat-{time.monotonic_ns()}.db")],
                punctual_env(ctx), ctx.tmp / f"punctual-beat-{time.monotonic_ns()}.log")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if int(sql_value(ctx, "SELECT count(*) FROM beat_heartbeats")) > before:  # type: ignore[call-overload]
            return proc
        if proc.popen.poll() is not None:
            break
        time.sleep(0.1)
    proc.stop()
    raise RuntimeError(f"Punctual beat did not start: see {proc.log}")


def wait_column(ctx: Context, count: int, timeout: float, column: str) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if int(sql_value(ctx, f"SELECT count(*) FROM runs WHERE {column} IS NOT NULL")) >= count:  # type: ignore[call-overload]
            return True
        time.sleep(0.5)
    return False


def lag_stats(ctx: Context, column: str, since: datetime | None = None) -> tuple[int, list[float], datetime | None]:
    """Lags (column - slot) of the runs with a slot at or after `since`."""
    where = f"{column} IS NOT NULL" + (" AND scheduled_for >= %s" if since else "")
    with psycopg.connect(ctx.url) as conn:
        rows = conn.execute(f"SELECT extract(epoch FROM {column} - scheduled_for)::float8 FROM runs WHERE {where}",
                            (since,) if since else ()).fetchall()  # type: ignore[arg-type]
        last = conn.execute(f"SELECT max({column}) FROM runs WHERE {where}",
                            (since,) if since else ()).fetchone()  # type: ignore[arg-type]
    return len(rows), [r[0] for r in rows], last[0] if last else None


def executed_note(ctx: Context, count: int, slot_at: datetime, timeout: float) -> str:
    """Slot to runs.expanded_at: the worker produced the content and published the deliveries.

    started_at is the claim; this is the run's own work done. Nobody consumes the delivery queues
    here, so runs never reach finished_at: expanded_at is the last step a run worker takes.
    """
    finished = wait_column(ctx, count, timeout, "expanded_at")
    n, lags, _ = lag_stats(ctx, "expanded_at", slot_at)
    if not lags:
        return " executed: none"
    last = max(lags)
    return (f" executed (expanded_at): {n} runs, {n / last:.0f} runs/s, p50 {pct(lags, 0.5):.3f} s, "
            f"p99 {pct(lags, 0.99):.3f} s" + ("" if finished else " (not all)"))


def cpu_parts(ctx: Context, worker_procs: list[Proc]) -> dict[str, dict[int, float]]:
    """CPU seconds so far of each part of the delivered pipeline, per process."""
    runs, deliver = worker_procs
    return {"runs pool": cpu_by_pid(process_tree(runs.popen.pid)),
            "deliver pool": cpu_by_pid(process_tree(deliver.popen.pid)),
            "postgres": cpu_by_pid(database_backends(ctx)), "redis": cpu_by_pid([ctx.redis_pid]),
            "bench + sink": cpu_by_pid([os.getpid()])}


def cpu_note(before: dict[str, dict[int, float]], after: dict[str, dict[int, float]], runs: int) -> str:
    """CPU per run of each part (ms), the profile of where a delivered run's time goes."""
    # A process that appeared meanwhile (a new backend, a restarted child) counts from zero.
    used = {part: sum(t - before[part].get(pid, 0.0) for pid, t in after[part].items()) for part in before}
    parts = ", ".join(f"{part} {seconds * 1000 / max(runs, 1):.2f}" for part, seconds in used.items())
    return f"CPU ms per run: {parts} (total {sum(used.values()) * 1000 / max(runs, 1):.2f})"


def daily_away_from_now() -> str:
    """300 daily expressions (60 minutes x 5 hours) whose slots are 3-21 hours from now in every zone
    used: planning costs what it would in production, and nothing else comes due while we measure."""
    first_hour = (datetime.now(UTC).hour + 12) % 24
    return f"(g % 60) || ' ' || (((g / 60) % 5 + {first_hour}) % 24) || ' * * *'"


def start_worker_proc(ctx: Context, queues: str, pool: str, concurrency: int) -> Proc:
    return Proc([str(BIN / "celery"), "-A", "workers.app", "worker", "-Q", queues, "-P", pool,
                 "-c", str(concurrency), "--loglevel", "WARNING", "--without-gossip", "--without-mingle",
                 "-n", f"bench{time.monotonic_ns()}@%h"],
                punctual_env(ctx, PUNCTUAL_OUTBOUND_ALLOWLIST="127.0.0.1"),
                ctx.tmp / f"worker-{time.monotonic_ns()}.log")


def punctual_burst(ctx: Context, count: int, *, workers: int = 0, beats: int = 1, delivered: bool = False) -> Row:
    reset(ctx)
    scenario = ("e2e delivered, runs + deliver pools" if delivered else f"e2e burst, {workers} worker procs"
                if workers else "burst" if beats == 1 else f"burst, {beats} beats")
    beat = start_punctual_beat(ctx)
    # More beats share the work through SKIP LOCKED; CPU is theirs together, memory the first one's.
    others = [start_punctual_beat(ctx) for _ in range(beats - 1)]
    worker_procs: list[Proc] = []
    watcher, sink = None, None
    if delivered:
        sink = HttpSink().start()
        # The Procfile's pools at their defaults (PUNCTUAL_RUN_PROCESSES=2, PUNCTUAL_DELIVER_THREADS=4).
        worker_procs = [start_worker_proc(ctx, "runs", "prefork", 2),
                        start_worker_proc(ctx, "deliver.webhook,deliver.slack,deliver.email,deliver.sftp",
                                          "threads", 4)]
        time.sleep(5)
    elif workers:
        worker_procs = [start_worker_proc(ctx, "runs", "prefork", workers)]
        time.sleep(5)
    else:
        watcher = QueueWatcher(ctx.redis_url, "runs")
        watcher.start()
    try:
        # The slot is far enough ahead for the insert to commit before it (about 25k rows/s here).
        lead = 3 + count / 10000
        insert_schedules(ctx, count, f"date_trunc('second', now()) + interval '{lead:.0f} s'", daily_away_from_now(),
                         **({"url": f"{sink.url}/hook"} if sink else {}))
        slot_at: datetime = sql_value(ctx, "SELECT min(next_run_at) FROM schedules")  # type: ignore[assignment]
        slot = slot_at.timestamp()
        late_insert = time.time() - slot
        with psycopg.connect(ctx.url, autocommit=True) as conn:
            conn.execute("SELECT pg_notify('punctual_wakeup', '')")
        backends = backend_pids(ctx, "punctual-beat")
        beat_pids = [p.popen.pid for p in [beat, *others]]
        cpu0, db0 = total_cpu(beat_pids), cpu_by_pid(backends)
        parts0 = cpu_parts(ctx, worker_procs) if delivered else {}
        timeout = ctx.args.timeout + lead
        if watcher is not None:
            finished = watcher.wait_for(count, timeout, lambda: beat.popen.poll() is None)
            lags = watcher.lags(slot)
        else:
            column = "finished_at" if delivered else "started_at"
            finished = wait_column(ctx, count, timeout, column)
            _, lags, _ = lag_stats(ctx, column, slot_at)
        cpu, db_cpu = total_cpu(beat_pids) - cpu0, cpu_used(db0, cpu_by_pid(backends))
        done = len(lags)
        elapsed = max(lags) if lags else float("nan")
        note = "" if finished else f"not finished in {ctx.args.timeout:.0f} s"
        if workers and not delivered:
            note += executed_note(ctx, count, slot_at, timeout)
        if delivered and sink is not None:
            complete = sql_value(ctx, "SELECT count(*) FROM runs WHERE status = 'complete'")
            note += f" {complete} complete, {len(sink.requests)} POSTs received; " + cpu_note(
                parts0, cpu_parts(ctx, worker_procs), done)
        if late_insert > 0:
            note += f" (insert ended {late_insert:.1f} s after the slot)"
        return Row("punctual", scenario, count, str(done), fmt(elapsed), fmt(done / elapsed, 0) if done else "0",
                   fmt(pct(lags, 0.5), 3), fmt(pct(lags, 0.99), 3), fmt(max(lags or [float("nan")]), 3),
                   f"{cpu:.1f} (+db {db_cpu:.1f}) s", fmt(rss_mb(beat.popen.pid, "VmHWM"), 0) + " peak", note.strip())
    finally:
        if watcher:
            watcher.stop()
        for proc in worker_procs:
            proc.stop()
        if sink:
            sink.stop()
        for proc in [beat, *others]:
            proc.stop()


def punctual_idle(ctx: Context, count: int) -> Row:
    reset(ctx)
    # None due: spread over the next day, from an hour ahead.
    insert_schedules(ctx, count, "now() + interval '1 hour' + (g % 86400) * interval '1 s'", daily_away_from_now())
    beat = start_punctual_beat(ctx)
    try:
        time.sleep(5)  # past start-up
        pids = [beat.popen.pid, *backend_pids(ctx, "punctual-beat")]
        beat_before, db_before = cpu_seconds(beat.popen.pid), cpu_by_pid(pids[1:])
        time.sleep(ctx.args.idle_seconds)
        scale = 60 / ctx.args.idle_seconds
        beat_cpu = (cpu_seconds(beat.popen.pid) - beat_before) * scale
        db_cpu = cpu_used(db_before, cpu_by_pid(pids[1:])) * scale
        return Row("punctual", "idle", count, "0", fmt(ctx.args.idle_seconds, 0),
                   cpu=f"{beat_cpu:.3f} (+db {db_cpu:.3f})/min", rss=fmt(rss_mb(beat.popen.pid), 0))
    finally:
        beat.stop()


def punctual_steady(ctx: Context, count: int) -> Row:
    reset(ctx)
    # Hourly schedules spread over the 60 minutes: each minute count/60 come due at once.
    insert_schedules(
        ctx, count,
        "date_trunc('hour', now()) + (g % 60) * interval '1 min' + CASE WHEN date_trunc('hour', now()) "
        "+ (g % 60) * interval '1 min' <= now() + interval '20 s' THEN interval '1 hour' ELSE interval '0' END",
        "(g % 60) || ' * * * *'")
    beat = start_punctual_beat(ctx)
    try:
        start = db_now(ctx)
        pids = [beat.popen.pid, *backend_pids(ctx, "punctual-beat")]
        cpu0 = cpu_by_pid(pids)
        time.sleep(ctx.args.steady_seconds)
        cpu = cpu_used(cpu0, cpu_by_pid(pids)) * 60 / ctx.args.steady_seconds
        done, lags, _ = lag_stats(ctx, "published_at", since=start)
        due = int(sql_value(ctx, "SELECT count(*) FROM runs WHERE scheduled_for >= %s", (start,)))  # type: ignore[call-overload]
        return Row("punctual", f"steady {ctx.args.steady_seconds:.0f} s", count, f"{done}/{due}",
                   fmt(ctx.args.steady_seconds, 0), fmt(done / ctx.args.steady_seconds, 0),
                   fmt(pct(lags, 0.5), 3), fmt(pct(lags, 0.99), 3), fmt(max(lags or [float("nan")]), 3),
                   f"{cpu:.2f}/min", fmt(rss_mb(beat.popen.pid), 0))
    finally:
        beat.stop()


# ---------------------------------------------------------------- peers

def ensure_peer_venv() -> Path:
    python = PEERS_VENV / "bin" / "python"
    probe = [str(python), "-c", "import redbeat, django_celery_beat, celery, psycopg"]
    if python.exists() and subprocess.run(probe, capture_output=True).returncode == 0:
        return python
    PEERS_DIR.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "venv", str(PEERS_VENV)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", *PEER_REQUIREMENTS], check=True)
    return python


@dataclass
class Peer:
    name: str
    scheduler: str
    store: str


PEERS = (Peer("celery-redbeat", "redbeat.RedBeatScheduler", "redbeat"),
         Peer("django-celery-beat", "django_celery_beat.schedulers:DatabaseScheduler", "django"))


def peer_env(ctx: Context, peer: Peer, dbname: str) -> dict[str, str]:
    params = conninfo_to_dict(ctx.admin_url)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PUNCTUAL_", "CELERY", "DJANGO"))}
    env.update(BENCH_REDIS_URL=ctx.redis_url, PYTHONPATH=str(REPO / "bench" / "peers"), PYTHONUNBUFFERED="1")
    if peer.store == "django":
        env.update(DJANGO_SETTINGS_MODULE="djbeat_settings", BENCH_DJANGO_DB_NAME=dbname,
                   BENCH_DJANGO_DB_USER=str(params.get("user", "postgres")),
                   BENCH_DJANGO_DB_PASSWORD=str(params.get("password", "")),
                   BENCH_DJANGO_DB_HOST=str(params.get("host", "127.0.0.1")),
                   BENCH_DJANGO_DB_PORT=str(params.get("port", "5432")))
    return env


@contextmanager
def peer_store(ctx: Context, peer: Peer) -> Iterator[str]:
    """A fresh Redis (and for django-celery-beat a fresh database); yields the database name."""
    client = redis.Redis.from_url(ctx.redis_url)
    client.flushall()
    client.close()
    dbname = f"bench_peer_{uuid.uuid4().hex[:8]}"
    if peer.store == "django":
        with psycopg.connect(ctx.admin_url, autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{dbname}"')
    try:
        yield dbname
    finally:
        if peer.store == "django":
            with psycopg.connect(ctx.admin_url, autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')


def start_peer_beat(ctx: Context, python: Path, peer: Peer, env: dict[str, str]) -> Proc:
    return Proc([str(python), "-m", "celery", "-A", "peer_app", "beat", "-S", peer.scheduler, "--loglevel", "WARNING",
                 "--schedule", str(ctx.tmp / f"peer-{time.monotonic_ns()}.db")], env,
                ctx.tmp / f"{peer.store}-beat-{time.monotonic_ns()}.log", cwd=REPO / "bench" / "peers")


def peer_burst(ctx: Context, python: Path, peer: Peer, count: int) -> Row:
    with peer_store(ctx, peer) as dbname:
        env = peer_env(ctx, peer, dbname)
        lead = 8 + count / 2000  # loading through the peers' own APIs is slower than generate_series
        slot = float(int(time.time() + lead))
        subprocess.run([str(python), str(REPO / "bench" / "peers" / "peer_load.py"), peer.store, str(count),
                        str(slot)], env=env, check=True, cwd=REPO / "bench" / "peers")
        late = time.time() - slot
        watcher = QueueWatcher(ctx.redis_url, "celery")
        watcher.start()
        beat = start_peer_beat(ctx, python, peer, env)
        try:
            time.sleep(max(0.0, min(2.0, slot - time.time())))
            cpu0 = cpu_seconds(beat.popen.pid)
            finished = watcher.wait_for(count, max(0.0, slot - time.time()) + ctx.args.timeout,
                                        lambda: beat.popen.poll() is None)
            cpu = cpu_seconds(beat.popen.pid) - cpu0
            peak = rss_mb(beat.popen.pid, "VmHWM")
        finally:
            beat.stop()
            watcher.stop()
    lags = watcher.lags(slot)
    done = len(lags)
    elapsed = max(lags) if lags else float("nan")
    note = "" if finished else f"not finished in {ctx.args.timeout:.0f} s"
    if late > 0:
        note += f" (beat started {late:.1f} s after the slot)"
    db = ""  # django-celery-beat's database work is not counted (its connections come and go)
    return Row(peer.name, "burst", count, str(done), fmt(elapsed), fmt(done / elapsed, 0) if done else "0",
               fmt(pct(lags, 0.5), 3), fmt(pct(lags, 0.99), 3), fmt(max(lags or [float("nan")]), 3),
               f"{cpu:.1f}{db} s", fmt(peak, 0) + " peak", note.strip())


def peer_idle(ctx: Context, python: Path, peer: Peer, count: int) -> Row:
    with peer_store(ctx, peer) as dbname:
        env = peer_env(ctx, peer, dbname)
        started = time.monotonic()
        subprocess.run([str(python), str(REPO / "bench" / "peers" / "peer_load.py"), peer.store, str(count),
                        str(time.time() + 7200)], env=env, check=True, cwd=REPO / "bench" / "peers",
                       timeout=ctx.args.timeout * 4)
        load_s = time.monotonic() - started
        beat = start_peer_beat(ctx, python, peer, env)
        try:
            time.sleep(min(60.0, 5 + count / 5000))  # past start-up (django-celery-beat loads every row)
            before = cpu_seconds(beat.popen.pid)
            time.sleep(ctx.args.idle_seconds)
            scale = 60 / ctx.args.idle_seconds
            cpu = (cpu_seconds(beat.popen.pid) - before) * scale
            db = ""  # django-celery-beat's database work is not counted (its connections come and go)
            return Row(peer.name, "idle", count, "0", fmt(ctx.args.idle_seconds, 0), cpu=f"{cpu:.3f}{db}/min",
                       rss=fmt(rss_mb(beat.popen.pid), 0), note=f"load {load_s:.0f} s")
        finally:
            beat.stop()


# ---------------------------------------------------------------- main

def print_table(rows: list[Row]) -> None:
    header = Row("system", "scenario", 0, "runs out", "last lag s", "runs/s", "lag p50 s", "lag p99 s",
                 "lag max s", "beat CPU-s", "RSS MB", "note")
    cells = [[r.system, r.scenario, f"{r.schedules:,}" if r.schedules else "schedules", r.runs, r.seconds, r.rate,
              r.p50, r.p99, r.max, r.cpu, r.rss, r.note] for r in [header, *rows]]
    widths = [max(len(c[i]) for c in cells) for i in range(len(cells[0]))]
    for n, line in enumerate(cells):
        print("  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip())
        if n == 0:
            print("  ".join("-" * w for w in widths))


def print_medians(rows: list[Row]) -> None:
    """Median runs/s and p99 lag of repeated rows (same system, scenario and size)."""
    groups: dict[tuple[str, str, int], list[Row]] = {}
    for row in rows:
        groups.setdefault((row.system, row.scenario, row.schedules), []).append(row)
    for (system, scenario, count), group in groups.items():
        if len(group) > 1 and all(r.rate and r.p99 for r in group):
            rate = statistics.median(float(r.rate) for r in group)
            p99 = statistics.median(float(r.p99) for r in group)
            print(f"median of {len(group)}: {system} {scenario} {count:,}: {rate:.0f} runs/s, p99 lag {p99:.3f} s")


def record(ctx: Context, row: Row) -> None:
    ctx.rows.append(row)
    print(f"  {row.system} {row.scenario} {row.schedules:,}: runs {row.runs} rate {row.rate} p99 {row.p99} "
          f"cpu {row.cpu} rss {row.rss} {row.note}", flush=True)


def run(ctx: Context) -> None:
    a = ctx.args
    only = set(a.only.split(",")) if a.only else {"burst", "idle", "steady", "e2e", "peers"}
    if a.quick:
        only -= {"steady", "e2e", "peers"}
    if a.no_peers:
        only.discard("peers")
    if a.no_e2e:
        only.discard("e2e")
    if "burst" in only:
        for n in [10_000] if a.quick else [1_000, 10_000, 100_000]:
            for _ in range(a.repeat):
                record(ctx, punctual_burst(ctx, n))
        for n in [] if a.quick else [10_000, 100_000]:
            record(ctx, punctual_burst(ctx, n, beats=2))
    if "idle" in only:
        for n in [10_000, 100_000] if a.quick else [10_000, 1_000_000]:
            record(ctx, punctual_idle(ctx, n))
    if "steady" in only:
        record(ctx, punctual_steady(ctx, a.steady_count))
    if only & {"e2e", "delivered"}:
        for _ in range(a.repeat):
            if "e2e" in only:
                record(ctx, punctual_burst(ctx, 10_000, workers=2))
            record(ctx, punctual_burst(ctx, 10_000, delivered=True))
    if "peers" in only:
        python = ensure_peer_venv()
        for peer in PEERS:
            for n in a.peer_bursts:
                record(ctx, peer_burst(ctx, python, peer, n))
            for n in (10_000, 100_000):
                record(ctx, peer_idle(ctx, python, peer, n))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="10k burst, idle 10k vs 100k, no peers")
    parser.add_argument("--no-peers", action="store_true")
    parser.add_argument("--no-e2e", action="store_true")
    parser.add_argument("--only", default="", help="comma-separated: burst,idle,steady,e2e,peers "
                        "(e2e is both e2e rows; delivered only the delivered one)")
    parser.add_argument("--steady-count", type=int, default=1_000_000)
    parser.add_argument("--peer-bursts", type=lambda v: [int(x) for x in v.split(",")], default=[1_000, 10_000],
                        help="burst sizes for the peers (comma-separated)")
    parser.add_argument("--timeout", type=float, default=150.0, help="per-scenario time limit (s)")
    parser.add_argument("--idle-seconds", type=float, default=30.0, help="idle measurement window (s)")
    parser.add_argument("--steady-seconds", type=float, default=150.0, help="steady measurement window (s)")
    parser.add_argument("--repeat", type=int, default=1, help="burst repetitions (the table shows each)")
    parser.add_argument("--batch", type=int, default=0, help="PUNCTUAL_BEAT_BATCH_SIZE for our beat")
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE",
                        help="a setting for our beat and workers (repeatable), e.g. PUNCTUAL_RUNS_PER_MESSAGE=100")
    parser.add_argument("--publish-batch", type=int, default=0, help="PUNCTUAL_BEAT_PUBLISH_BATCH for our beat")
    args = parser.parse_args()
    admin_url = os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    tmp = Path(tempfile.mkdtemp(prefix="beat-bench-"))
    redis_url, redis_proc = start_redis(tmp / "redis")
    try:
        with private_database(admin_url, prefix="punctual_bench") as url:
            ctx = Context(admin_url, url, redis_url, tmp, args, redis_proc.pid)
            try:
                run(ctx)
            finally:
                print()
                print(f"beat bench on {os.cpu_count()} CPUs; logs in {tmp}")
                print_table(ctx.rows)
                print_medians(ctx.rows)
    finally:
        redis_proc.terminate()
        redis_proc.wait(timeout=10)
        if not args.quick:
            shutil.rmtree(tmp / "redis", ignore_errors=True)


if __name__ == "__main__":
    main()
