"""One blueprint per resource."""

from __future__ import annotations

from api.resources import health, runs, schedules

BLUEPRINTS = [health.blp, schedules.blp, runs.blp]
