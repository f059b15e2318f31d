"""The Celery app beat runs with: `celery -A beat.app beat -S beat.scheduler:PunctualScheduler`."""

from __future__ import annotations

from shared.celery_app import create_celery_app
from shared.logs import connect_celery_logging

connect_celery_logging("beat")
app = create_celery_app()
