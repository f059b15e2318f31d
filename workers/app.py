"""The worker's Celery app. Production runs two pools, one per kind of work (see Procfile):

    celery -A workers.app worker -Q runs -P prefork -c 2                     # commands, fan-out: CPU
    celery -A workers.app worker -Q deliver.webhook,deliver.slack,deliver.email,deliver.sftp \\
        -P threads -c 4                                                      # sends: I/O, batches
    celery -A workers.app flower                                             # watch them

Every worker also sweeps PostgreSQL for due retries, lost messages and the work of dead workers
(workers/sweeping.py), and heartbeats so that others know it is alive (workers/liveness.py).
"""

from __future__ import annotations

# First, before shared.metrics builds a metric: the celery command has imported prometheus-client
# already (Flower's plugin does), and prefork children must count into the multiprocess folder.
from shared.multiprocess_metrics import clear_multiprocess_dir, prepare_multiprocess_dir

METRICS_DIR, OWN_METRICS_DIR = prepare_multiprocess_dir("punctual-worker-metrics-")

import gc  # noqa: E402
import shutil  # noqa: E402
from typing import Any  # noqa: E402

from celery import signals  # noqa: E402

from shared.celery_app import create_celery_app  # noqa: E402
from shared.logs import connect_celery_logging  # noqa: E402
from shared.metrics import WORKER_METRICS, start_metrics_server  # noqa: E402
from shared.settings import load_settings  # noqa: E402

connect_celery_logging("worker")
app = create_celery_app()
# What `-P prefork` (the default) starts: Celery's prefork pool, keeping a task a pool process was
# handed as the consumer stops (workers/prefork.py).
app.conf.worker_pool = "workers.prefork:TaskPool"

# A batch allocates thousands of short-lived objects per delivery. With Python's default thresholds
# (700, 10, 10) the cycle collector took about a fifth of a delivery worker's CPU, most of it in full
# collections walking the heap Celery built at start-up (timed with gc.callbacks under
# bench/delivery_bench.py: about 120 µs of 0.6 ms a delivery; 10-30 µs with these, for about 6 MiB
# more resident memory per process).
GC_THRESHOLDS = (50_000, 10, 10)


def tune_gc() -> None:
    """Leave what exists now (modules, Celery, the pools) out of every collection, and collect less often."""
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


@signals.worker_ready.connect  # type: ignore[misc]
def _tune_gc_when_ready(**_: Any) -> None:
    tune_gc()  # the main process: it runs the tasks of a threads pool


@signals.worker_process_init.connect  # type: ignore[misc]
def _tune_gc_in_child(**_: Any) -> None:
    tune_gc()  # a prefork child, after the fork


@signals.worker_init.connect  # type: ignore[misc]
def _serve_metrics(**_: Any) -> None:
    # In the main process, before the children fork: one exporter summing all of them.
    settings = load_settings()
    clear_multiprocess_dir(METRICS_DIR)
    if settings.worker_metrics_port:
        start_metrics_server(settings.worker_metrics_port, settings.metrics_bind, WORKER_METRICS)


@signals.worker_shutdown.connect  # type: ignore[misc]
def _drop_metrics_dir(**_: Any) -> None:
    if OWN_METRICS_DIR:
        shutil.rmtree(METRICS_DIR, ignore_errors=True)


import workers.tasks  # noqa: E402,F401  (registers the tasks on app)
