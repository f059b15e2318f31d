"""The worker's Celery app. Production runs two pools, one per kind of work (see Procfile):

    celery -A workers.app worker -Q runs -P prefork -c 2                     # commands, fan-out: CPU
    celery -A workers.app worker -Q deliver.webhook,deliver.slack,deliver.email,deliver.sftp \\
        -P threads -c 8                                                      # sends: I/O, batches
    celery -A workers.app flower                                             # watch them

Every worker also sweeps PostgreSQL for due retries, lost messages and the work of dead workers
(workers/sweeping.py), and heartbeats so that others know it is alive (workers/liveness.py).
"""

from __future__ import annotations

# First, before shared.metrics builds a metric: the celery command has imported prometheus-client
# already (Flower's plugin does), and prefork children must count into the multiprocess folder.
from shared.multiprocess_metrics import clear_multiprocess_dir, prepare_multiprocess_dir

METRICS_DIR, OWN_METRICS_DIR = prepare_multiprocess_dir("punctual-worker-metrics-")

import shutil  # noqa: E402
from typing import Any  # noqa: E402

from celery import signals  # noqa: E402

from shared.celery_app import create_celery_app  # noqa: E402
from shared.logs import connect_celery_logging  # noqa: E402
from shared.metrics import WORKER_METRICS, start_metrics_server  # noqa: E402
from shared.settings import load_settings  # noqa: E402

connect_celery_logging("worker")
app = create_celery_app()


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
