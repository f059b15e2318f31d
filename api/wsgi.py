"""WSGI entry point: `gunicorn api.wsgi:app` (gunicorn.conf.py sets logging, metrics and shutdown)."""

from __future__ import annotations

from api.app import create_app
from shared.logs import configure_logging
from shared.settings import load_settings

settings = load_settings()
configure_logging(settings, "api")
app = create_app(settings)
