"""The worker's Celery app: `celery -A workers.app worker -Q runs,deliver.webhook,...`."""

from __future__ import annotations

from shared.celery_app import create_celery_app

app = create_celery_app()

import workers.tasks  # noqa: E402,F401  (registers the tasks on app)
