"""`punctual status`: beats, queues, the last hour's runs and deliveries, failing schedules, in plain text.

Exit 0 when healthy, 1 when degraded (no beat ticking, broker unreachable, runs stuck in the
outbox), so a cron job or a health probe can use it; the reasons are on the first line.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from datetime import UTC, datetime

from shared.broker import BrokerUnreachable, display_url, read_queue_depths
from shared.celery_app import celery_config
from shared.db import connect
from shared.metrics import LIVE_BEAT_S, RECENT_WINDOW_S
from shared.settings import Settings, load_settings
from shared.sql import operations

FAILING_LIMIT = 20
# A run waiting this long to be published means beat cannot reach the broker (or no beat runs).
STUCK_OUTBOX_S = 60.0


@dataclass(frozen=True)
class Status:
    now: datetime
    broker: str
    beats: list[operations.BeatHeartbeat]
    outbox: operations.Outbox
    queues: dict[str, int] | None
    broker_error: str | None
    runs: dict[str, int]
    deliveries: dict[str, int]
    failing: list[operations.FailingSchedule]
    problems: list[str] = field(default_factory=list)


def add_status_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register `status`."""
    status = subparsers.add_parser("status", help="summary of beats, queues, recent runs and failing schedules")
    status.set_defaults(func=cmd_status)


def cmd_status(args: argparse.Namespace) -> int:
    status = read_status(load_settings())
    print(render_status(status), end="")
    return 1 if status.problems else 0


def read_status(settings: Settings) -> Status:
    """Read everything the summary shows; raises psycopg.OperationalError if PostgreSQL is unreachable."""
    with connect(settings) as conn, conn.transaction():
        operations.limit_statement_time(conn)
        now = conn.execute("SELECT now()").fetchone()[0]  # type: ignore[index]
        beats = operations.list_heartbeats(conn)
        outbox = operations.read_outbox(conn)
        runs = operations.count_runs_by_status(conn, RECENT_WINDOW_S)
        deliveries = operations.count_deliveries_by_status(conn, RECENT_WINDOW_S)
        failing = operations.list_failing_schedules(conn, FAILING_LIMIT)
    queues: dict[str, int] | None = None
    broker_error = None
    try:
        queues = read_queue_depths(settings, [q.name for q in celery_config(settings)["task_queues"]])
    except BrokerUnreachable as error:
        broker_error = str(error)
    status = Status(now.astimezone(UTC), display_url(settings.broker_url), beats, outbox, queues, broker_error,
                    runs, deliveries, failing)
    status.problems.extend(find_problems(status))
    return status


def find_problems(status: Status) -> list[str]:
    """What makes the system degraded, in words (empty when healthy)."""
    problems = []
    if not any(beat.seconds_since_tick < LIVE_BEAT_S for beat in status.beats):
        problems.append(f"no beat ticked in the last {LIVE_BEAT_S:.0f}s")
    if status.broker_error is not None:
        problems.append("broker unreachable")
    age = status.outbox.oldest_pending_age_s
    if age is not None and age > STUCK_OUTBOX_S:
        problems.append(f"runs waiting {age:.0f}s to be published")
    return problems


def render_status(status: Status) -> str:
    """The summary as plain text lines."""
    verdict = "ok" if not status.problems else "degraded: " + "; ".join(status.problems)
    lines = [f"Punctual at {status.now:%Y-%m-%d %H:%M:%S} UTC: {verdict}", ""]
    lines += _beats(status)
    lines += ["", f"Queues ({status.broker})"]
    if status.queues is None:
        lines.append(f"  unreachable: {status.broker_error}")
    else:
        lines += [f"  {name:<18} {depth:>8} waiting" for name, depth in status.queues.items()]
    lines += ["", "Runs in the last hour", *_counts(status.runs)]
    lines += ["", "Deliveries in the last hour", *_counts(status.deliveries)]
    lines += ["", "Failing schedules", *_failing(status.failing)]
    return "\n".join(lines) + "\n"


def _beats(status: Status) -> list[str]:
    lines = ["Beats"]
    if not status.beats:
        lines.append("  none has ever ticked")
    for beat in status.beats:
        state = "live" if beat.seconds_since_tick < LIVE_BEAT_S else "silent"
        lines.append(f"  {beat.beat_id:<40} {state:<6} last tick {_ago(beat.seconds_since_tick)}, "
                     f"lag {beat.last_lag_s:.3f}s, {beat.runs_published} runs published")
    pending, age = status.outbox.pending, status.outbox.oldest_pending_age_s
    lines.append(f"  outbox: {pending} run{'s' if pending != 1 else ''} waiting to be published"
                 + (f", oldest {_ago(age)}" if age is not None else ""))
    return lines


def _counts(counts: dict[str, int]) -> list[str]:
    if not counts:
        return ["  none"]
    width = max(len(name) for name in counts)
    return [f"  {name:<{width}} {count:>8}" for name, count in sorted(counts.items(), key=lambda kv: -kv[1])]


def _failing(schedules: list[operations.FailingSchedule]) -> list[str]:
    if not schedules:
        return ["  none"]
    lines = []
    for s in schedules:
        if s.system_disabled_at is not None:
            state = f"DISABLED {s.system_disabled_at:%Y-%m-%d %H:%M} UTC: {s.system_disabled_reason or 'no reason'}"
        else:
            state = f"{s.consecutive_failures} consecutive failure{'s' if s.consecutive_failures != 1 else ''}" \
                    f" (last {s.last_status})"
        lines.append(f"  {s.id}  org {s.organization_id}  {s.name[:40]!r}  {state}")
    if len(schedules) == FAILING_LIMIT:
        lines.append(f"  (the first {FAILING_LIMIT} shown)")
    return lines


def _ago(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.1f}s ago"
    if seconds < 7200:
        return f"{seconds / 60:.0f}m ago"
    return f"{seconds / 3600:.1f}h ago"
