"""The worker's Celery app. Run one pool for everything, or one pool per queue to scale each alone:

    celery -A workers.app worker -Q runs,deliver.email,deliver.sftp,deliver.webhook,deliver.slack -c 2
    celery -A workers.app worker -Q runs -c 4                              # commands, fan-out
    celery -A workers.app worker -Q deliver.webhook -P threads -c 50       # webhooks alone
    celery -A workers.app worker -Q deliver.email -P threads -c 10         # SMTP alone
    celery -A workers.app flower                                           # watch them

Every worker also sweeps PostgreSQL for due retries and lost messages (workers/sweeping.py).
"""

from __future__ import annotations

from shared.celery_app import create_celery_app

app = create_celery_app()

import workers.tasks  # noqa: E402,F401  (registers the tasks on app)
