"""A Celery app for tests/integration/test_multiprocess_metrics.py, set up the way a prefork worker must be.

`celery -A tests.prefork_metrics_app worker -P prefork` with PUNCTUAL_WORKER_METRICS_PORT: the
children count deliveries and log with ids, the main process serves the sum of their metrics.
"""

from __future__ import annotations

from shared.multiprocess_metrics import clear_multiprocess_dir, prepare_multiprocess_dir

# First: before shared.metrics builds a metric (the celery command has imported prometheus-client).
METRICS_DIR, OWN_METRICS_DIR = prepare_multiprocess_dir("punctual-test-worker-metrics-")

import logging  # noqa: E402
import shutil  # noqa: E402
from typing import Any  # noqa: E402

from celery import signals  # noqa: E402

from shared.celery_app import create_celery_app  # noqa: E402
from shared.logs import connect_celery_logging, log_context  # noqa: E402
from shared.metrics import DELIVERIES, WORKER_METRICS, start_metrics_server  # noqa: E402
from shared.settings import load_settings  # noqa: E402

connect_celery_logging("worker")
app = create_celery_app()


@signals.worker_init.connect
def serve_metrics(**_: Any) -> None:
    # In the main process, before the children fork: one exporter summing all of them.
    settings = load_settings()
    clear_multiprocess_dir(METRICS_DIR)
    if settings.worker_metrics_port:
        start_metrics_server(settings.worker_metrics_port, settings.metrics_bind, WORKER_METRICS)


@signals.worker_shutdown.connect
def remove_metrics_dir(**_: Any) -> None:
    if OWN_METRICS_DIR:
        shutil.rmtree(METRICS_DIR, ignore_errors=True)


@app.task(name="tests.count_delivery")
def count_delivery(kind: str, delivery_id: str) -> None:
    with log_context(run_id="run-1", delivery_id=delivery_id):
        logging.getLogger("punctual.worker").info("delivered by %s", kind)
    DELIVERIES.labels(kind, "delivered").inc()
