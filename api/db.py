"""Access to the app's pool and settings from a request."""

from __future__ import annotations

from flask import current_app
from psycopg_pool import ConnectionPool

from shared.settings import Settings


def get_pool() -> ConnectionPool:
    """Return the app's connection pool."""
    return current_app.extensions["punctual_pool"]  # type: ignore[no-any-return]


def get_settings() -> Settings:
    """Return the app's settings."""
    return current_app.extensions["punctual_settings"]  # type: ignore[no-any-return]
