"""Minimal Django settings for django-celery-beat in the bench (database from BENCH_DJANGO_DB_*)."""

from __future__ import annotations

import os

SECRET_KEY = "bench-only-not-secret"
INSTALLED_APPS = ["django_celery_beat"]
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": os.environ["BENCH_DJANGO_DB_NAME"],
        "USER": os.environ.get("BENCH_DJANGO_DB_USER", "postgres"),
        "PASSWORD": os.environ.get("BENCH_DJANGO_DB_PASSWORD", ""),
        "HOST": os.environ.get("BENCH_DJANGO_DB_HOST", "127.0.0.1"),
        "PORT": os.environ.get("BENCH_DJANGO_DB_PORT", "5432"),
    }
}
USE_TZ = True
TIME_ZONE = "UTC"
CELERY_TIMEZONE = "UTC"
DJANGO_CELERY_BEAT_TZ_AWARE = True
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
