"""Prometheus metrics: every metric Punctual exports, defined once, and the ways to serve them.

Where each is recorded and served:

- API (gunicorn): request latency, recorded in each gunicorn worker. gunicorn runs several worker
  processes, so the API uses prometheus-client's multiprocess mode (PROMETHEUS_MULTIPROC_DIR, set up
  by api/gunicorn_config.py) and `/metrics` sums them. The same scrape reads PostgreSQL and the
  broker (DatabaseCollector): runs and deliveries of the last hour by status, queue depths, the
  outbox, beat heartbeats. Those are facts of the whole system, so one place reports them.
- beat: fire lag and publish counters, recorded by the one beat process and served by its own
  small HTTP exporter (PUNCTUAL_BEAT_METRICS_PORT). Beats run on other hosts or containers than
  the API, so a shared multiprocess directory would not reach them; each beat is its own target.
- workers: delivery counters and durations, recorded in the worker processes and served by an
  exporter in the worker's main process (PUNCTUAL_WORKER_METRICS_PORT), which sums prefork
  children through PROMETHEUS_MULTIPROC_DIR when it is set.

Metric objects are not registered in prometheus-client's global registry: each process serves
only its own (build_registry), so the API does not show empty beat metrics and vice versa.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import psycopg
from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics import MetricWrapperBase
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from psycopg_pool import ConnectionPool

from shared.broker import BrokerUnreachable, read_queue_depths
from shared.multiprocess_metrics import MULTIPROC_ENV
from shared.settings import Settings
from shared.sql import operations

logger = logging.getLogger("punctual.metrics")

RECENT_WINDOW_S = 3600.0
# A beat whose heartbeat is older than this is not counted live (it ticks at least every max sleep).
LIVE_BEAT_S = 30.0

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
# From "on time" (tens of ms) to "every beat was down for an hour" (catch-up runs).
_LAG_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0)
_DELIVERY_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)

# --- API -------------------------------------------------------------------------------------------
API_REQUEST_SECONDS = Histogram(
    "punctual_api_request_duration_seconds",
    "Time the API took to answer a request, by HTTP method, route template (never the raw path) and status "
    "class (2xx, 4xx, 5xx).",
    ["method", "route", "status_class"], buckets=_LATENCY_BUCKETS, registry=None)

# --- beat ------------------------------------------------------------------------------------------
BEAT_FIRE_LAG_SECONDS = Histogram(
    "punctual_beat_fire_lag_seconds",
    "Seconds from a run's slot (scheduled_for) to the moment beat's publish reached the broker, for each "
    "run published for the first time, by trigger (schedule, one_shot, catch_up, manual, test).",
    ["trigger"], buckets=_LAG_BUCKETS, registry=None)
BEAT_RUNS_PUBLISHED = Counter(
    "punctual_beat_runs_published",
    "Runs beat published to the broker (a run re-published after a lost message counts again).",
    registry=None)
BEAT_PUBLISH_FAILURES = Counter(
    "punctual_beat_publish_failures",
    "Publish attempts the broker refused or timed out; the runs stayed pending for a later pass.",
    registry=None)
BEAT_SCHEDULES_CLAIMED = Counter(
    "punctual_beat_schedules_claimed",
    "Due schedules beat claimed and advanced.", registry=None)
BEAT_RUNS_INSERTED = Counter(
    "punctual_beat_runs_inserted",
    "Runs beat inserted for due slots (a slot that already had a run is not counted).", registry=None)
BEAT_TICK_SECONDS = Histogram(
    "punctual_beat_tick_duration_seconds",
    "Time of one claim-insert-advance transaction that claimed at least one schedule.",
    buckets=_LATENCY_BUCKETS, registry=None)

# --- workers (recorded by workers/, served by the worker's exporter) ------------------------------
DELIVERIES = Counter(
    "punctual_deliveries",
    "Deliveries that reached a final state, by destination kind and outcome (delivered, failed).",
    ["kind", "outcome"], registry=None)
DELIVERY_ATTEMPTS = Counter(
    "punctual_delivery_attempts",
    "Delivery attempts made, by destination kind and outcome (delivered, retry, failed), as in the attempt "
    "ledger.", ["kind", "outcome"], registry=None)
DELIVERY_RETRIES = Counter(
    "punctual_delivery_retries",
    "Deliveries put back to be tried again after a transient error, by destination kind.",
    ["kind"], registry=None)
DELIVERY_SECONDS = Histogram(
    "punctual_delivery_duration_seconds",
    "Time of one delivery attempt (connect, send, answer), by destination kind and outcome.",
    ["kind", "outcome"], buckets=_DELIVERY_BUCKETS, registry=None)
RUNS_FINISHED = Counter(
    "punctual_runs_finished",
    "Runs that reached a final status in a worker (complete, error_delivered, failed, skipped).",
    ["status"], registry=None)

API_METRICS: tuple[MetricWrapperBase, ...] = (API_REQUEST_SECONDS,)
BEAT_METRICS: tuple[MetricWrapperBase, ...] = (
    BEAT_FIRE_LAG_SECONDS, BEAT_RUNS_PUBLISHED, BEAT_PUBLISH_FAILURES, BEAT_SCHEDULES_CLAIMED, BEAT_RUNS_INSERTED,
    BEAT_TICK_SECONDS,
)
WORKER_METRICS: tuple[MetricWrapperBase, ...] = (
    DELIVERIES, DELIVERY_ATTEMPTS, DELIVERY_RETRIES, DELIVERY_SECONDS, RUNS_FINISHED,
)

# The gauges DatabaseCollector answers at scrape time: name -> help.
DATABASE_GAUGES = {
    "punctual_runs_last_hour": "Runs created in the last hour, by current status.",
    "punctual_deliveries_last_hour": "Deliveries created in the last hour, by current status.",
    "punctual_queue_depth": "Messages waiting in each broker queue (not yet taken by a worker).",
    "punctual_outbox_pending_runs": "Runs recorded but not yet published to the broker.",
    "punctual_outbox_oldest_pending_age_seconds": "Age of the oldest run not yet published (0 when none).",
    "punctual_beats_live": f"Beat processes whose heartbeat is younger than {LIVE_BEAT_S:.0f} seconds.",
    "punctual_beat_last_tick_age_seconds": "Seconds since the most recent tick of any beat.",
    "punctual_schedules_system_disabled": "Live schedules Punctual disabled (repeated failures, unplannable).",
    "punctual_database_up": "1 when this scrape could read PostgreSQL, else 0.",
    "punctual_broker_up": "1 when this scrape could read the broker's queues, else 0.",
}


def multiprocess_dir() -> str | None:
    """The directory prometheus-client's multiprocess mode keeps values in, when it is on."""
    return os.environ.get(MULTIPROC_ENV) or None


def build_registry(metrics: Sequence[MetricWrapperBase], *collectors: Collector) -> CollectorRegistry:
    """A registry with these metrics (summed over processes in multiprocess mode) and collectors."""
    registry = CollectorRegistry(auto_describe=True)
    if multiprocess_dir():
        # Values live in per-process files; the collector reads them all. Only processes that
        # share the directory (gunicorn's workers, a worker's prefork children) write there, but
        # each writes a zero for every unlabelled metric it merely imports: keep only ours.
        names = {family.name for metric in metrics for family in metric.describe()}
        registry.register(_Only(names, MultiProcessCollector(None)))
    else:
        for metric in metrics:
            registry.register(metric)
    for collector in collectors:
        registry.register(collector)
    return registry


def start_metrics_server(port: int, bind: str, metrics: Sequence[MetricWrapperBase]) -> Any:
    """Serve these metrics over HTTP on bind:port from a daemon thread; returns the server (shutdown())."""
    server, _thread = start_http_server(port, bind, registry=build_registry(metrics))
    return server


def mark_process_dead(pid: int) -> None:
    """Tell multiprocess mode a child exited (call from gunicorn's child_exit, Celery's process shutdown)."""
    if multiprocess_dir():
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid)


class _Only(Collector):
    """The families of another collector whose names are in `names`."""

    def __init__(self, names: set[str], inner: Collector) -> None:
        self.names, self.inner = names, inner

    def collect(self) -> Iterable[Any]:
        return [family for family in self.inner.collect() if family.name in self.names]


class DatabaseCollector(Collector):
    """Gauges read from PostgreSQL and the broker each time Prometheus scrapes."""

    def __init__(self, settings: Settings, pool: ConnectionPool, queues: Sequence[str]) -> None:
        self.settings, self.pool, self.queues = settings, pool, tuple(queues)
        # Scrapes may overlap (two Prometheus servers, a slow database): one query set at a time.
        self._lock = threading.Lock()

    def describe(self) -> Iterable[Any]:
        return []  # the gauges depend on the database; nothing to check at registration

    def collect(self) -> Iterator[Any]:
        with self._lock:
            yield from self._database()
            yield from self._broker()

    def _database(self) -> Iterator[Any]:
        try:
            with self.pool.connection(timeout=5) as conn, conn.transaction():
                operations.limit_statement_time(conn)
                runs = operations.count_runs_by_status(conn, RECENT_WINDOW_S)
                deliveries = operations.count_deliveries_by_status(conn, RECENT_WINDOW_S)
                outbox = operations.read_outbox(conn)
                beats = operations.list_heartbeats(conn)
                disabled = operations.count_system_disabled_schedules(conn)
        except psycopg.Error:  # the scrape still answers; database_up says why the rest is missing
            logger.warning("metrics: reading PostgreSQL failed", exc_info=True)
            yield _gauge("punctual_database_up", 0)
            return
        yield _gauge("punctual_database_up", 1)
        yield _labelled("punctual_runs_last_hour", "status", runs)
        yield _labelled("punctual_deliveries_last_hour", "status", deliveries)
        yield _gauge("punctual_outbox_pending_runs", outbox.pending)
        yield _gauge("punctual_outbox_oldest_pending_age_seconds", max(0.0, outbox.oldest_pending_age_s or 0.0))
        yield _gauge("punctual_beats_live", sum(1 for b in beats if b.seconds_since_tick < LIVE_BEAT_S))
        if beats:
            yield _gauge("punctual_beat_last_tick_age_seconds", max(0.0, min(b.seconds_since_tick for b in beats)))
        yield _gauge("punctual_schedules_system_disabled", disabled)

    def _broker(self) -> Iterator[Any]:
        try:
            depths = read_queue_depths(self.settings, self.queues)
        except BrokerUnreachable as error:
            logger.warning("metrics: reading the broker's queues failed: %s", error)
            yield _gauge("punctual_broker_up", 0)
            return
        yield _gauge("punctual_broker_up", 1)
        yield _labelled("punctual_queue_depth", "queue", depths)


def _gauge(name: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, DATABASE_GAUGES[name], value=value)


def _labelled(name: str, label: str, values: dict[str, int]) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, DATABASE_GAUGES[name], labels=[label])
    for key, value in sorted(values.items()):
        family.add_metric([key], value)
    return family


def exported_metric_names() -> set[str]:
    """Every metric family name Punctual exports (dashboards and alerts may name only these)."""
    names = set(DATABASE_GAUGES)
    for metric in (*API_METRICS, *BEAT_METRICS, *WORKER_METRICS):
        names.update(family.name for family in metric.describe())
    return names
