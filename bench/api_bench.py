"""API benchmark: create and list throughput and latency with 100,000 schedules in the table,
and the cost of a deep page (keyset) against the first page.

Runs the real API under gunicorn on a private, migrated database (on DATABASE_URL, else the
embedded PostgreSQL) and a private redis-server, then prints a table.

    .venv/bin/python bench/api_bench.py [--schedules 100000] [--creates 1000] [--lists 1000] [--clients 4]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from uuid import UUID

import psycopg
import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from shared.db import transaction
from shared.settings import Settings
from shared.sql.organizations import create_organization, create_token
from tests.processes import start_api
from tests.services import RedisServer, private_database

BODY = {"name": "bench", "cron_expression": "0 9 * * MON", "timezone": "Europe/Paris",
        "destination": {"type": "webhook", "url": "http://127.0.0.1:9/hook"}, "run_mode": "once_distribute"}


def bulk_insert(url: str, organization_id: object, count: int) -> float:
    """Insert `count` schedules in one statement; return the seconds it took (ANALYZE included)."""
    started = time.perf_counter()
    with psycopg.connect(url) as conn:
        conn.execute(
            """INSERT INTO schedules (organization_id, name, cron_expression, timezone, destination_type,
                                      destination, next_run_at, last_run_at, last_status, created_at)
               SELECT %s, 'bench schedule ' || lpad(i::text, 7, '0') || ' ' || md5(i::text),
                      '0 9 * * *', 'UTC', 'webhook', '{"url": "http://127.0.0.1:9/hook"}',
                      now() + make_interval(secs => (i::bigint * 7919) %% 604800),
                      CASE WHEN i %% 3 = 0 THEN NULL
                           ELSE now() - make_interval(secs => (i::bigint * 104729) %% 604800) END,
                      CASE WHEN i %% 3 = 0 THEN NULL ELSE 'complete' END,
                      now() - make_interval(secs => i)
               FROM generate_series(1, %s) AS i""",
            (organization_id, count),
        )
        conn.commit()
        conn.autocommit = True
        conn.execute("VACUUM ANALYZE schedules")
    return time.perf_counter() - started


def measure(calls: int, clients: int, call: object) -> tuple[float, list[float]]:
    """Run `call` `calls` times over `clients` threads; return (requests per second, latencies in ms)."""
    def one(_: int) -> float:
        started = time.perf_counter()
        call()  # type: ignore[operator]
        return (time.perf_counter() - started) * 1000

    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        latencies = list(pool.map(one, range(calls)))
    return calls / (time.perf_counter() - started), latencies


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def row(name: str, calls: int, rps: float | None, latencies: list[float]) -> str:
    rate = f"{rps:9.1f}" if rps is not None else f"{'-':>9}"
    return (f"| {name:<50} | {calls:>6} | {rate} | {statistics.median(latencies):8.2f} | "
            f"{pct(latencies, 0.99):8.2f} |")


def sql_rows(settings: Settings, organization_id: UUID, deep: int) -> list[str]:
    """Server-side cost of the page query alone: page 1 against the page `deep` pages in (size 100)."""
    from shared.sql.schedule_listing import ScheduleQuery, count_schedules, list_schedule_views, sort_value

    lines = []
    with psycopg.connect(settings.database_url) as conn:
        for sort in ("created_at", "name", "next_run_time", "last_run_time"):
            query = ScheduleQuery(sort_field=sort, descending=True)
            after = None
            for _ in range(deep - 1):  # walk the keyset as a client would, 100 rows at a time
                rows = list_schedule_views(conn, organization_id, query, limit=100, after=after)
                after = (sort_value(rows[-1], sort), rows[-1].id)
            first = timed(30, lambda q=query: list_schedule_views(conn, organization_id, q, limit=101))
            deep_page = timed(30, lambda q=query, a=after: list_schedule_views(conn, organization_id, q, limit=101,
                                                                                after=a))
            lines.append(row(f"SQL page 1 (101 rows), {sort} desc", 30, None, first))
            lines.append(row(f"SQL page {deep} (101 rows), {sort} desc", 30, None, deep_page))
        counted = timed(30, lambda: count_schedules(conn, organization_id, ScheduleQuery()))
        exact = timed(10, lambda: conn.execute("SELECT count(*) FROM schedules WHERE organization_id = %s "
                                               "AND deleted_at IS NULL", (organization_id,)).fetchone())
        lines.append(row("SQL total_records (capped count + estimate)", 30, None, counted))
        lines.append(row("SQL exact count(*) of all rows (for comparison)", 10, None, exact))
    return lines


def timed(times: int, call: Callable[[], object]) -> list[float]:
    out = []
    for _ in range(times):
        started = time.perf_counter()
        call()
        out.append((time.perf_counter() - started) * 1000)
    return out


def walk_to(session: requests.Session, base: str, query: str, pages: int) -> str:
    """Follow next_cursor `pages` times; return the cursor of the page after them."""
    cursor = ""
    for _ in range(pages):
        body = session.get(f"{base}/v1/schedules?{query}{cursor}", timeout=30).json()
        assert "page_info" in body, body
        cursor = "&cursor=" + body["page_info"]["next_cursor"]
    return cursor


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--schedules", type=int, default=100_000)
    parser.add_argument("--creates", type=int, default=1000)
    parser.add_argument("--lists", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--deep-page", type=int, default=500)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp, private_database() as url:
        redis_server = RedisServer(Path(tmp))
        redis_server.start()
        settings = Settings(database_url=url, redis_url=redis_server.url, secret_key="bench-secret-key-0123456789",
                            outbound_allowlist=("127.0.0.1",), rate_limit="1000000 per minute")
        api, base = start_api(settings, Path(tmp), PUNCTUAL_RATE_LIMIT=settings.rate_limit)
        try:
            run(settings, base, args)
        finally:
            api.stop()
            redis_server.stop()


def run(settings: Settings, base: str, args: argparse.Namespace) -> None:
    from shared.db import create_pool

    pool = create_pool(settings, min_size=1, max_size=2, name="bench")
    with transaction(pool) as conn:
        org = create_organization(conn, "Bench")
        _, token = create_token(conn, org.id, "bench")
    pool.close()
    seconds = bulk_insert(settings.database_url, org.id, args.schedules)
    print(f"bulk-inserted {args.schedules} schedules in {seconds:.1f}s (VACUUM ANALYZE included)")

    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {token}"
    for _ in range(20):  # warm the gunicorn workers and their pools
        session.get(f"{base}/v1/schedules?page_size=20", timeout=30)

    def create() -> None:
        response = session.post(f"{base}/v1/schedules", json=BODY, timeout=30)
        assert response.status_code == 201, response.text

    def list_first() -> None:
        response = session.get(f"{base}/v1/schedules?page_size=20", timeout=30)
        assert response.status_code == 200, response.text

    lines = []
    rps, lat = measure(args.creates, args.clients, create)
    lines.append(row(f"POST /v1/schedules ({args.clients} clients)", args.creates, rps, lat))
    rps, lat = measure(args.lists, args.clients, list_first)
    lines.append(row(f"GET /v1/schedules page 1, size 20 ({args.clients} clients)", args.lists, rps, lat))

    deep = args.deep_page
    for sort in ("created_at", "name", "next_run_time", "last_run_time"):
        query = f"page_size=100&sort_field={sort}&sort_direction=desc"
        page1 = [measure(1, 1, lambda q=query: session.get(f"{base}/v1/schedules?{q}", timeout=30))[1][0]
                 for _ in range(50)]
        cursor = walk_to(session, base, query, deep - 1)
        deep_lat = [measure(1, 1, lambda q=query, c=cursor: session.get(f"{base}/v1/schedules?{q}{c}",
                                                                        timeout=30))[1][0] for _ in range(50)]
        lines.append(row(f"page 1, size 100, sort {sort} desc (counts)", 50, None, page1))
        lines.append(row(f"page {deep}, size 100, sort {sort} desc", 50, None, deep_lat))
    q_lat = measure(50, 1, lambda: session.get(f"{base}/v1/schedules?q=0049999&page_size=20", timeout=30))[1]
    lines.append(row("page 1, q=0049999 (substring search + count)", 50, None, q_lat))
    lines.extend(sql_rows(settings, org.id, deep))

    print(f"\n{args.schedules} schedules in the table; latencies are client-side wall times in ms\n")
    print(f"| {'operation':<50} | {'calls':>6} | {'req/s':>9} | {'p50 ms':>8} | {'p99 ms':>8} |")
    print(f"|{'-' * 52}|{'-' * 8}|{'-' * 11}|{'-' * 10}|{'-' * 10}|")
    for line in lines:
        print(line)


if __name__ == "__main__":
    main()
