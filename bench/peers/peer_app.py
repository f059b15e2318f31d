"""The Celery app the peer beats (celery-redbeat, django-celery-beat) run with in the bench.

Runs in the peers' own virtualenv (.data/bench-peers/venv), never in Punctual's. Configured from
the environment: BENCH_REDIS_URL, and for django-celery-beat DJANGO_SETTINGS_MODULE=djbeat_settings.
"""

from __future__ import annotations

import os

from celery import Celery

if os.environ.get("DJANGO_SETTINGS_MODULE"):
    import django

    django.setup()

app = Celery("bench_peer", broker=os.environ["BENCH_REDIS_URL"])
app.conf.update(
    redbeat_redis_url=os.environ["BENCH_REDIS_URL"],
    redbeat_lock_timeout=60,
    task_default_queue="celery",
    timezone="UTC",
    enable_utc=True,
    beat_max_loop_interval=5,
)
